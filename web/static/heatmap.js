/* The dashboard's heatmap: each process diagram (bpmn-js NavigatedViewer) coloured by how many RMAs wait
   at each element now, with a badge per element: waiting now · average age now / average wait. */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function hours(value) {
    if (value === null || value === undefined) { return "–"; }
    return value >= 48 ? (value / 24).toFixed(1) + "d" : value.toFixed(1) + "h";
  }

  function level(waiting, most) {
    if (!waiting) { return 0; }
    return Math.max(1, Math.ceil(5 * waiting / most));
  }

  function show(area, diagram, elements, most) {
    var title = diagram.stage ? "Stage: " + diagram.stage.replace(/_/g, " ") : "Whole process";
    var panel = el("figure", { "class": "diagram-panel" });
    panel.appendChild(el("figcaption", {}, title + " (" + diagram.file + ")"));
    var box = el("div", { "class": "diagram-canvas", "data-process": diagram.process_id, "role": "img",
                          "aria-label": title + " diagram with waiting RMAs" });
    panel.appendChild(box);
    area.appendChild(panel);
    var viewer = new window.BpmnJS({ container: box });
    return viewer.importXML(diagram.xml).then(function () {
      var canvas = viewer.get("canvas"), overlays = viewer.get("overlays"), registry = viewer.get("elementRegistry");
      var marked = [];
      Object.keys(elements).forEach(function (key) {
        var parts = key.split(":");
        if (parts[0] !== diagram.process_id || !registry.get(parts[1])) { return; }
        var e = elements[key], heat = level(e.waiting_now, most);
        if (heat) { canvas.addMarker(parts[1], "heat-" + heat); }
        var badge = el("div", { "class": "heat-badge" + (e.waiting_now ? "" : " none"), "data-element": parts[1],
                                "title": e.waiting_now + " waiting now, average age " + hours(e.avg_age_hours) +
                                         "; average wait " + hours(e.avg_wait_hours) + " over " + e.completed + " completed" },
                       e.waiting_now + " · " + hours(e.avg_age_hours) + " / " + hours(e.avg_wait_hours));
        overlays.add(parts[1], { position: { top: -12, left: 0 }, html: badge });
        marked.push(parts[1]);
      });
      canvas.zoom("fit-viewport", "auto");
      box.setAttribute("data-marked", marked.join(" "));
    });
  }

  function load(area) {
    if (typeof window.BpmnJS !== "function") {
      area.querySelector(".diagram-status").textContent = "The diagram viewer is not installed (run scripts/build_static.py).";
      return;
    }
    fetch(area.getAttribute("data-url"), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.json();
      })
      .then(function (data) {
        area.querySelector(".diagram-status").remove();
        var most = 1;
        Object.keys(data.elements).forEach(function (k) {
          if (k.indexOf("rma:") !== 0) { most = Math.max(most, data.elements[k].waiting_now); }
        });
        var stageMost = 1;
        Object.keys(data.elements).forEach(function (k) {
          if (k.indexOf("rma:") === 0) { stageMost = Math.max(stageMost, data.elements[k].waiting_now); }
        });
        return Promise.all(data.diagrams.map(function (d) {
          return show(area, d, data.elements, d.process_id === "rma" ? stageMost : most);
        }));
      })
      .then(function () { area.setAttribute("data-ready", "true"); })
      .catch(function (error) {
        var p = area.querySelector(".diagram-status") || area.appendChild(el("p", { "class": "diagram-status" }));
        p.className = "diagram-status flash flash-error";
        p.textContent = "Could not show the heatmap: " + error.message;
      });
  }

  document.querySelectorAll("#heatmap[data-url]").forEach(load);
})();
