// Print buttons: <button data-print> prints the page (no inline onclick: the Content-Security-Policy forbids it).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
