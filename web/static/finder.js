// The centre finder on the public request form: asks GET /api/centres/nearby and lists the centres,
// nearest first, without reloading the page (what the customer typed below stays). Without JavaScript
// the finder form reloads the page with ?near=. Its words come in the page's language from the finder form's
// data-* attributes ({placeholders} filled here), English when missing.
(function () {
  "use strict";
  var form = document.getElementById("finder-form");
  var list = document.getElementById("centre-list");
  var status = document.getElementById("finder-status");
  if (!form || !list || !window.fetch) return;

  var ENGLISH = {looking: "Looking…", nearest: "Nearest to {label} first.",
    unplaced: "We could not place “{near}”: all centres are listed.",
    lead: "Expected lead time: {low}–{high} days", leadNone: "Expected lead time: no estimate yet"};

  function say(key, values) {
    var words = form.dataset[key] || ENGLISH[key];
    return words.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function option(c, checked) {
    var label = el("label", "choice centre-option");
    label.setAttribute("data-testid", "centre-option");
    label.setAttribute("data-code", c.code);
    var radio = el("input");
    radio.type = "radio"; radio.name = "centre"; radio.value = c.code; radio.required = true; radio.checked = checked;
    var body = el("span", "centre-body");
    body.appendChild(el("strong", "centre-name", c.name));
    if (typeof c.distance_km === "number") body.appendChild(el("span", "muted centre-distance", " · " + c.distance_km + " km"));
    body.appendChild(el("br"));
    body.appendChild(el("span", "centre-address", c.address + ", " + c.postcode + " " + c.city + ", " + c.country));
    body.appendChild(el("br"));
    body.appendChild(el("span", "muted small centre-hours", (c.opening_hours || []).join(" · ")));
    body.appendChild(el("br"));
    var lead = c.lead_time && c.lead_time.low_days !== null && c.lead_time.low_days !== undefined
      ? say("lead", {low: c.lead_time.low_days, high: c.lead_time.high_days})
      : say("leadNone");
    var leadNode = el("span", "small centre-lead", lead);
    leadNode.setAttribute("data-testid", "lead-time");
    body.appendChild(leadNode);
    label.appendChild(radio);
    label.appendChild(body);
    return label;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var near = form.elements.near.value.trim();
    status.textContent = say("looking");
    fetch(form.getAttribute("data-api") + "?near=" + encodeURIComponent(near), {headers: {Accept: "application/json"}})
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (result) {
        // the centre ticked by now (also while the answer was on its way) stays ticked
        var chosen = list.querySelector("input[name=centre]:checked");
        var keep = chosen ? chosen.value : null;
        list.textContent = "";
        result.items.forEach(function (c) { list.appendChild(option(c, c.code === keep)); });
        status.textContent = result.located ? say("nearest", {label: result.located.label})
          : (near ? say("unplaced", {near: near}) : "");
      })
      .catch(function () { form.submit(); });  // fall back to the page reload
  });
})();
