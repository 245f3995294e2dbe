/* The RMA page's process diagrams: bpmn-js NavigatedViewer (global BpmnJS), current step highlighted. */
(function () {
  "use strict";

  var MARKER = "rma-current";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function show(area, diagram, title, description) {
    var panel = el("figure", { "class": "diagram-panel" });
    var caption = el("figcaption", {});
    caption.appendChild(el("strong", {}, title));
    if (description) { caption.appendChild(el("span", { "class": "muted small" }, " " + description)); }
    var canvasBox = el("div", {
      "class": "diagram-canvas", "data-process": diagram.process_id, "role": "img",
      "aria-label": title + " diagram" + (diagram.highlight.length ? ", current step highlighted" : "")
    });
    panel.appendChild(caption);
    panel.appendChild(canvasBox);
    area.appendChild(panel);

    var viewer = new window.BpmnJS({ container: canvasBox });
    return viewer.importXML(diagram.xml).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var marked = diagram.highlight.filter(function (id) { return registry.get(id); });
      marked.forEach(function (id) { canvas.addMarker(id, MARKER); });
      canvas.zoom("fit-viewport", "auto");
      canvasBox.setAttribute("data-highlighted", marked.join(" "));
      return viewer;
    });
  }

  function fail(area, message) {
    var status = area.querySelector(".diagram-status") || area.appendChild(el("p", { "class": "diagram-status" }));
    status.className = "diagram-status flash flash-error";
    status.textContent = message;
  }

  function load(area) {
    if (typeof window.BpmnJS !== "function") {
      fail(area, "The diagram viewer is not installed (run scripts/build_static.py).");
      return;
    }
    fetch(area.getAttribute("data-url"), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.json();
      })
      .then(function (data) {
        var status = area.querySelector(".diagram-status");
        if (status) { status.remove(); }
        var shows = [];
        if (data.stage_diagram) {
          var stageName = data.stage.replace(/_/g, " ");
          shows.push(show(area, data.stage_diagram, "Current stage: " + stageName.charAt(0).toUpperCase() + stageName.slice(1),
                          "(" + data.stage_diagram.file + ")"));
        }
        shows.push(show(area, data.skeleton, "Whole process", data.closed ? "(completed)" : "(" + data.skeleton.file + ")"));
        return Promise.all(shows);
      })
      .then(function () { area.setAttribute("data-ready", "true"); })
      .catch(function (error) { fail(area, "Could not show the diagram: " + error.message); });
  }

  document.querySelectorAll("[data-url].diagram-area").forEach(load);
})();
