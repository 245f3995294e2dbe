// The new-batch table: "Add a row" copies the last row with blank cells and the next unit number.
(function () {
  var add = document.querySelector("[data-batch-add-row]");
  var body = document.querySelector("[data-batch-body]");
  var count = document.querySelector("[data-batch-rows]");
  if (!add || !body || !count) return;
  add.addEventListener("click", function () {
    var rows = body.querySelectorAll("[data-batch-row]");
    var last = rows[rows.length - 1];
    var n = rows.length;
    var row = last.cloneNode(true);
    row.querySelector("td").textContent = String(n + 1);
    row.querySelectorAll(".field-errors").forEach(function (e) { e.remove(); });
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.name = input.name.replace(/-\d+$/, "-" + n);
      var label = input.getAttribute("aria-label") || "";
      input.setAttribute("aria-label", label.replace(/unit \d+$/, "unit " + (n + 1)));
    });
    body.appendChild(row);
    count.value = String(n + 1);
    row.querySelector("input").focus();
  });
})();
