// The staff menu on a narrow screen (base.html, staff.css): one Menu button opens and closes it.
// Loaded in <head>: the class tells staff.css to fold the menu before the first paint. Without JavaScript there is
// no class, no button, and the menu stays open.
document.documentElement.classList.add("js-menu");

document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector(".menu-toggle[aria-controls]");
  const menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) return;
  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  const setOpen = (open) => button.setAttribute("aria-expanded", String(open));

  // a disclosure: the focus stays on the button, and Tab goes on into the menu that follows it
  button.addEventListener("click", () => setOpen(!isOpen()));
  // Escape closes the open menu and gives the focus back to its button
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) {
      setOpen(false);
      button.focus();
    }
  });
});
