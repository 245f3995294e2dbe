/* The process owners' modeler: bpmn-js Modeler (global BpmnJS), a JSON Schema form editor with a live
   preview for the selected user task, and server-side Validate / Deploy with the erroring elements marked.

   spiffworkflow:* extensions are kept as bpmn-moddle's generic elements (no moddle descriptor), so every
   one of them, known to us or not, is written back as it was read. */
(function () {
  "use strict";

  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var FORM_PROPERTY = "formJsonSchemaFilename";
  var ERROR_MARKER = "owner-error";
  var HUMAN_TASKS = ["bpmn:UserTask", "bpmn:ManualTask"];

  var root = document.getElementById("modeler");
  if (!root) { return; }
  var stageFile = root.getAttribute("data-file");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusBox = document.getElementById("modeler-status");
  var errorBox = document.getElementById("modeler-errors");
  var forms = {};      // form file name -> {text, edited}
  var selected = null; // the selected human task shape
  var marked = [];
  var previewTimer = null;
  var typed = 0;       // schema edits so far: a form fetched meanwhile must not overwrite what was typed

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function say(message, kind) {
    statusBox.className = "owner-status flash flash-" + (kind || "info");
    statusBox.textContent = message;
  }

  if (typeof window.BpmnJS !== "function") {
    say("The modeler is not installed (run scripts/build_static.py).", "error");
    return;
  }
  var modeler = new window.BpmnJS({ container: document.getElementById("modeler-canvas") });
  window.rmaModeler = modeler; // browser tests drive the modeling API through it
  var moddle = modeler.get("moddle");

  // --- spiffworkflow:* extension elements on a business object ------------------------------------
  // The first extension element of `type` ("spiffworkflow:properties", "spiffworkflow:serviceTaskOperator"),
  // created with `attrs` when `create` is set and there is none. owners_properties.js uses it too.
  function spiffExtension(bo, type, create, attrs) {
    var ext = bo.extensionElements;
    if (!ext) {
      if (!create) { return null; }
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      bo.extensionElements = ext;
    }
    ext.values = ext.values || [];
    var found = ext.values.filter(function (v) { return v.$type === type; })[0];
    if (!found && create) {
      found = moddle.createAny(type, SPIFF, Object.assign({ $children: [] }, attrs || {}));
      found.$parent = ext;
      ext.values.push(found);
    }
    return found || null;
  }
  window.rmaSpiffExtension = spiffExtension;

  function propertyHolder(bo, create) {
    return spiffExtension(bo, "spiffworkflow:properties", create);
  }

  function getProperty(bo, name) {
    var holder = propertyHolder(bo, false);
    var found = holder && (holder.$children || []).filter(function (c) {
      return c.$type === "spiffworkflow:property" && c.name === name;
    })[0];
    return found ? found.value : null;
  }

  function setProperty(bo, name, value) {
    var holder = propertyHolder(bo, true);
    holder.$children = holder.$children || [];
    var found = holder.$children.filter(function (c) { return c.$type === "spiffworkflow:property" && c.name === name; })[0];
    if (!found) {
      found = moddle.createAny("spiffworkflow:property", SPIFF, { name: name, value: value });
      found.$parent = holder;
      holder.$children.push(found);
    } else {
      found.value = value;
    }
  }

  // --- the form editor ---------------------------------------------------------------------------
  var editor = document.getElementById("form-editor");
  var fileInput = document.getElementById("form-file");
  var schemaInput = document.getElementById("form-schema");
  var preview = document.getElementById("form-preview");

  function fileUrl(name) { return root.getAttribute("data-file-url").replace("__NAME__", name); }

  function emptySchema(title) {
    return JSON.stringify({ "$schema": "https://json-schema.org/draft/2020-12/schema", "title": title || "",
                            "type": "object", "required": [], "properties": {} }, null, 2);
  }

  function loadForm(file, title) {
    if (forms[file]) { return Promise.resolve(forms[file].text); }
    return fetch(fileUrl("forms/" + file), { credentials: "same-origin" }).then(function (response) {
      var text = response.ok ? response.text() : Promise.resolve(emptySchema(title));
      return text.then(function (t) {
        forms[file] = forms[file] || { text: t, edited: !response.ok };
        return forms[file].text;
      });
    });
  }

  function renderPreview() {
    fetch(root.getAttribute("data-preview-url"), {
      method: "POST", credentials: "same-origin", body: schemaInput.value,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }
    }).then(function (r) { return r.text(); }).then(function (html) {
      preview.innerHTML = html; // our own server's rendering of the schema, escaped by Jinja
      preview.setAttribute("data-rendered", String(Date.now()));
    });
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(renderPreview, 250);
  }

  function showTask(element) {
    selected = element;
    var bo = element.businessObject;
    document.getElementById("form-panel-hint").hidden = true;
    editor.hidden = false;
    document.getElementById("task-name").textContent = bo.name || "(no name)";
    document.getElementById("task-id").textContent = bo.id;
    var file = getProperty(bo, FORM_PROPERTY);
    fileInput.value = file || "";
    if (!file) {
      schemaInput.value = "";
      preview.innerHTML = "";
      return;
    }
    var before = typed;
    loadForm(file, bo.name).then(function (text) {
      if (selected === element && typed === before) { schemaInput.value = text; renderPreview(); }
    });
  }

  function hideTask() {
    selected = null;
    editor.hidden = true;
    document.getElementById("form-panel-hint").hidden = false;
  }

  fileInput.addEventListener("change", function () {
    if (!selected) { return; }
    var file = fileInput.value.trim();
    if (!file) { return; }
    if (!/\.json$/.test(file)) { file += ".json"; fileInput.value = file; }
    var element = selected, before = typed;
    setProperty(element.businessObject, FORM_PROPERTY, file);
    loadForm(file, element.businessObject.name).then(function (text) {
      if (selected === element && typed === before) { schemaInput.value = text; renderPreview(); }
    });
  });

  schemaInput.addEventListener("input", function () {
    if (!selected) { return; }
    var file = fileInput.value.trim();
    if (!file) {
      file = selected.businessObject.id + ".json";
      fileInput.value = file;
      setProperty(selected.businessObject, FORM_PROPERTY, file);
    }
    typed += 1;
    forms[file] = { text: schemaInput.value, edited: true };
    schedulePreview();
  });

  modeler.on("selection.changed", function (event) {
    var element = event.newSelection.length === 1 ? event.newSelection[0] : null;
    if (element && HUMAN_TASKS.indexOf(element.type) >= 0) { showTask(element); } else { hideTask(); }
  });

  // --- validate and deploy -------------------------------------------------------------------------
  function clearErrors() {
    var canvas = modeler.get("canvas");
    marked.forEach(function (id) { canvas.removeMarker(id, ERROR_MARKER); });
    marked = [];
    errorBox.innerHTML = "";
    root.setAttribute("data-highlighted", "");
  }

  function showErrors(errors) {
    var canvas = modeler.get("canvas");
    var registry = modeler.get("elementRegistry");
    var list = el("ul", { "class": "owner-errors", "data-testid": "validation-errors" });
    errors.forEach(function (e) {
      var item = el("li", {});
      item.appendChild(el("code", {}, (e.file || "—") + (e.line ? ":" + e.line : "")));
      if (e.element) { item.appendChild(document.createTextNode(" ")); item.appendChild(el("code", { "class": "owner-error-element" }, e.element)); }
      item.appendChild(document.createTextNode(" " + e.message));
      list.appendChild(item);
      if (e.element && (!e.file || e.file === stageFile) && registry.get(e.element) && marked.indexOf(e.element) < 0) {
        canvas.addMarker(e.element, ERROR_MARKER);
        marked.push(e.element);
      }
    });
    errorBox.appendChild(list);
    root.setAttribute("data-highlighted", marked.join(" "));
  }

  function collectFiles() {
    return modeler.saveXML({ format: true }).then(function (result) {
      var files = {};
      files[stageFile] = result.xml;
      Object.keys(forms).forEach(function (name) {
        if (forms[name].edited) { files["forms/" + name] = forms[name].text; }
      });
      return files;
    });
  }

  function send(urlAttr, withNote) {
    clearErrors();
    var target = document.getElementById("deploy-target");
    return collectFiles().then(function (files) {
      var body = { files: files, centre: target ? target.value : "" };
      if (withNote) { body.note = document.getElementById("deploy-note").value; }
      return fetch(root.getAttribute(urlAttr), {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf }
      });
    }).then(function (response) {
      return response.json().catch(function () { return { message: "the server answered " + response.status }; })
        .then(function (data) { data.status = response.status; return data; });
    });
  }

  function refused(data) {
    say((data.message || "refused") + (data.errors && data.errors.length ? " (" + data.errors.length + " error(s))" : ""), "error");
    if (data.errors) { showErrors(data.errors); }
  }

  function run(urlAttr, withNote, done) {
    say(withNote ? "Deploying…" : "Validating…", "info");
    send(urlAttr, withNote).then(function (data) {
      if (data.status >= 400 || data.valid === false) { refused(data); } else { done(data); }
    }).catch(function (error) { say("Could not reach the server: " + error.message, "error"); });
  }

  var validateButton = document.getElementById("validate-button");
  if (validateButton) {
    validateButton.addEventListener("click", function () {
      run("data-validate-url", false, function (data) {
        say("Valid: " + (data.summary || "no changes") + ".", "success");
      });
    });
    document.getElementById("deploy-button").addEventListener("click", function () {
      run("data-deploy-url", true, function (data) {
        var label = data.centre ? data.centre + " variant" : "Base processes";
        statusBox.className = "owner-status flash flash-success";
        statusBox.textContent = (data.created ? "Deployed " + label + " version " + data.version + ": " + (data.summary || "")
                                 : "Nothing changed: " + label + " version " + data.version + " already has these files") + ". ";
        statusBox.appendChild(el("a", { href: data.url }, "Open version " + data.version));
        root.setAttribute("data-deployed", String(data.version));
        Object.keys(forms).forEach(function (name) { forms[name].edited = false; });
      });
    });
  }

  var xml = JSON.parse(document.getElementById("modeler-xml").textContent);
  modeler.importXML(xml).then(function (result) {
    var loading = root.querySelector(".diagram-status");
    if (loading) { loading.remove(); }
    if (result.warnings && result.warnings.length) {
      say("Opened with " + result.warnings.length + " warning(s): " + result.warnings[0].message, "warning");
    }
    modeler.get("canvas").zoom("fit-viewport", "auto");
    root.setAttribute("data-ready", "true");
  }).catch(function (error) { say("Could not open the diagram: " + error.message, "error"); });
})();
