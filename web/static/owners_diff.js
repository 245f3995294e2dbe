/* Variant against base: both diagrams of each changed stage, added/removed/changed elements coloured. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("diff-data").textContent);
  if (typeof window.BpmnJS !== "function") { return; }

  function ids(list) { return (list || []).map(function (e) { return e.id; }); }

  function show(box, xml, marks) {
    if (!xml) { box.textContent = "Not in this version."; box.classList.add("muted"); return Promise.resolve(); }
    var viewer = new window.BpmnJS({ container: box });
    return viewer.importXML(xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var done = [];
      Object.keys(marks).forEach(function (kind) {
        marks[kind].forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, "diff-" + kind); done.push(kind + ":" + id); }
        });
      });
      canvas.zoom("fit-viewport", "auto");
      box.setAttribute("data-marked", done.join(" "));
    });
  }

  var shows = [];
  document.querySelectorAll(".owner-diff-canvas").forEach(function (box) {
    var stage = data.stages[Number(box.getAttribute("data-index"))];
    if (box.getAttribute("data-side") === "base") {
      shows.push(show(box, stage.base_xml, { removed: ids(stage.removed), changed: ids(stage.changed) }));
    } else {
      shows.push(show(box, stage.xml, { added: ids(stage.added), changed: ids(stage.changed) }));
    }
  });
  Promise.all(shows).then(function () { document.body.setAttribute("data-diff-ready", "true"); });
})();
