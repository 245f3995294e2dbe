/* The process owners' modeler: bpmn-js Modeler (global BpmnJS), a JSON Schema form editor with a live
   preview for the selected user task, and server-side Validate / Deploy with the erroring elements marked
   (a broken company policy also marks the offending path's steps in this diagram).

   Deploy first validates (dry run) and shows what would change in a confirmation dialog; only its confirm
   button deploys. Unsaved edits (diagram commands, form and property fields) arm a beforeunload warning,
   which a deploy disarms; after a deploy the page moves to the new version (URL, breadcrumbs, file links).

   spiffworkflow:* extensions are kept as bpmn-moddle's generic elements (no moddle descriptor), so every
   one of them, known to us or not, is written back as it was read. */
(function () {
  "use strict";

  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var FORM_PROPERTY = "formJsonSchemaFilename";
  var ERROR_MARKER = "owner-error";
  var PATH_MARKER = "owner-policy-path";
  var HUMAN_TASKS = ["bpmn:UserTask", "bpmn:ManualTask"];

  var root = document.getElementById("modeler");
  if (!root) { return; }
  var stageFile = root.getAttribute("data-file");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusBox = document.getElementById("modeler-status");
  var errorBox = document.getElementById("modeler-errors");
  var forms = {};      // form file name -> {text, edited}
  var selected = null; // the selected human task shape
  var marked = [];     // [element id, marker] pairs on the canvas
  var edits = 0;       // edits since the page opened; `saved` is the count the last deploy sent
  var saved = 0;
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

  // --- unsaved edits -------------------------------------------------------------------------------
  function warnBeforeLeaving(event) {
    event.preventDefault();
    event.returnValue = ""; // Chromium shows its own "Leave site?" text
  }

  function edited() {
    edits += 1;
    window.addEventListener("beforeunload", warnBeforeLeaving); // adding the same listener twice is a no-op
    root.setAttribute("data-unsaved", "true");
  }

  function deployed(sent) {
    saved = sent;
    if (edits === saved) {
      window.removeEventListener("beforeunload", warnBeforeLeaving);
      root.setAttribute("data-unsaved", "false");
    }
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
    edited();
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
    edited();
    schedulePreview();
  });

  modeler.on("selection.changed", function (event) {
    var element = event.newSelection.length === 1 ? event.newSelection[0] : null;
    if (element && HUMAN_TASKS.indexOf(element.type) >= 0) { showTask(element); } else { hideTask(); }
  });

  // --- validate and deploy -------------------------------------------------------------------------
  function clearErrors() {
    var canvas = modeler.get("canvas");
    var registry = modeler.get("elementRegistry");
    // an element removed (or undone) since it was marked has no marker left to remove
    marked.forEach(function (m) { if (registry.get(m[0])) { canvas.removeMarker(m[0], m[1]); } });
    marked = [];
    errorBox.innerHTML = "";
    root.setAttribute("data-highlighted", "");
    root.setAttribute("data-policy-path", "");
  }

  function ids(marker) {
    return marked.filter(function (m) { return m[1] === marker; }).map(function (m) { return m[0]; }).join(" ");
  }

  // Mark `id` when it is in this diagram; an element already marked as an error keeps that marker.
  function mark(id, file, marker) {
    var canvas = modeler.get("canvas");
    if (!id || (file && file !== stageFile) || !modeler.get("elementRegistry").get(id)) { return; }
    if (marked.some(function (m) { return m[0] === id && (m[1] === marker || m[1] === ERROR_MARKER); })) { return; }
    if (marker === ERROR_MARKER) {
      marked = marked.filter(function (m) {
        if (m[0] === id) { canvas.removeMarker(id, m[1]); }
        return m[0] !== id;
      });
    }
    canvas.addMarker(id, marker);
    marked.push([id, marker]);
  }

  function showErrors(errors) {
    var list = el("ul", { "class": "owner-errors", "data-testid": "validation-errors" });
    errors.forEach(function (e) {
      var item = el("li", {});
      item.appendChild(el("code", {}, (e.file || "—") + (e.line ? ":" + e.line : "")));
      if (e.element) { item.appendChild(document.createTextNode(" ")); item.appendChild(el("code", { "class": "owner-error-element" }, e.element)); }
      item.appendChild(document.createTextNode(" " + e.message));
      list.appendChild(item);
      mark(e.element, e.file, ERROR_MARKER);
      // a company policy rule names the path that breaks it: its steps in this diagram are marked too
      var steps = Array.isArray(e.path) ? e.path : [];
      steps.forEach(function (step, i) {
        mark(step.element, step.file, PATH_MARKER);
        var next = steps[i + 1], shape = modeler.get("elementRegistry").get(step.element);
        if (next && step.file === stageFile && next.file === stageFile && shape) {
          (shape.outgoing || []).forEach(function (flow) {
            if (flow.target && flow.target.id === next.element) { mark(flow.id, stageFile, PATH_MARKER); }
          });
        }
      });
    });
    errorBox.appendChild(list);
    root.setAttribute("data-highlighted", ids(ERROR_MARKER));
    root.setAttribute("data-policy-path", ids(PATH_MARKER));
  }

  // What a deploy accepts but says (issue 15.9: a process nothing calls never runs), under the status line.
  function showWarnings(warnings) {
    if (!warnings || !warnings.length) { return; }
    var list = el("ul", { "class": "owner-warnings", "data-testid": "deploy-warnings" });
    warnings.forEach(function (w) {
      list.appendChild(el("li", {}, "Warning: " + w.file + (w.line ? ":" + w.line : "") +
                                     (w.element ? " (" + w.element + ")" : "") + ": " + w.message));
    });
    errorBox.appendChild(list);
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

  function send(urlAttr, withNote, files) {
    clearErrors();
    var target = document.getElementById("deploy-target");
    return (files ? Promise.resolve(files) : collectFiles()).then(function (files) {
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

  function run(urlAttr, withNote, done, files) {
    say(withNote ? "Deploying…" : "Validating…", "info");
    send(urlAttr, withNote, files).then(function (data) {
      if (data.status >= 400 || data.valid === false) { refused(data); } else { done(data); }
    }).catch(function (error) { say("Could not reach the server: " + error.message, "error"); });
  }

  var validateButton = document.getElementById("validate-button");
  if (validateButton) {
    validateButton.addEventListener("click", function () {
      run("data-validate-url", false, function (data) {
        say("Valid: " + (data.summary || "no changes") + ".", "success");
        showWarnings(data.warnings);
      });
    });
    document.getElementById("deploy-button").addEventListener("click", confirmDeploy);
  }

  // --- the deploy confirmation: what a dry run says would change, then the real deploy -----------------
  var confirmBox = document.getElementById("deploy-confirm");
  var pending = null; // {files, edits} validated and shown in the dialog

  function changeList(changes) {
    var list = el("ul", { "class": "owner-change-list", "data-testid": "confirm-changes" });
    (changes.stages || []).forEach(function (s) {
      var item = el("li", { "data-process": s.process });
      item.appendChild(el("strong", {}, s.process));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("span", { "class": "muted small" }, s.status + " · " + s.file));
      ["added", "removed", "changed"].forEach(function (kind) {
        if (!s[kind] || !s[kind].length || s.status === "added" || s.status === "removed") { return; }
        var line = el("div", { "class": "small change-" + kind }, kind.charAt(0).toUpperCase() + kind.slice(1) + ": ");
        s[kind].forEach(function (e, i) {
          if (i) { line.appendChild(document.createTextNode(", ")); }
          line.appendChild(el("code", { title: e.type }, e.id));
          if (e.name) { line.appendChild(document.createTextNode(" (" + e.name + ")")); }
        });
        item.appendChild(line);
      });
      if (s.status === "added" || s.status === "removed") {
        item.appendChild(el("div", { "class": "small muted" }, (s.status === "added" ? s.added : s.removed).length + " elements"));
      }
      if (s.layout_changed) { item.appendChild(el("div", { "class": "small muted" }, "layout changed")); }
      list.appendChild(item);
    });
    (changes.files || []).forEach(function (f) {
      var item = el("li", {});
      item.appendChild(el("code", {}, f.file));
      item.appendChild(el("span", { "class": "muted small" }, " " + f.status));
      list.appendChild(item);
    });
    return list;
  }

  function confirmDeploy() {
    var sent = edits;
    say("Checking what would change…", "info");
    collectFiles().then(function (files) {
      return send("data-validate-url", false, files).then(function (data) {
        if (data.status >= 400 || data.valid === false) { refused(data); return; }
        var changes = data.changes || { stages: [], files: [], summary: data.summary || "no changes" };
        var target = document.getElementById("deploy-target");
        document.getElementById("confirm-target").textContent = target.options[target.selectedIndex].text;
        var note = document.getElementById("deploy-note").value.trim();
        document.getElementById("confirm-note").textContent = note || "(no note)";
        var body = document.getElementById("confirm-body");
        body.innerHTML = "";
        if ((changes.stages || []).length || (changes.files || []).length) {
          body.appendChild(changeList(changes));
        } else {
          body.appendChild(el("p", { "class": "muted", "data-testid": "confirm-changes" },
                              "Nothing differs from the current version: a deploy stores no new version."));
        }
        pending = { files: files, edits: sent };
        say("Valid: " + (changes.summary || "no changes") + ". Confirm to deploy.", "info");
        confirmBox.showModal();
      });
    }).catch(function (error) { say("Could not reach the server: " + error.message, "error"); });
  }

  // After a deploy the page is the new version's: a reload or Back opens it, not the version it came from.
  function moveTo(data) {
    var from = "/processes/" + root.getAttribute("data-bundle") + "/";
    var to = "/processes/" + data.id + "/";
    root.setAttribute("data-bundle", String(data.id));
    root.setAttribute("data-file-url", root.getAttribute("data-file-url").replace(from, to));
    history.replaceState(null, "", location.pathname.replace(from, to) + location.search);
    var label = data.centre ? data.centre + " variant" : "Base processes";
    document.querySelectorAll("[data-version-link]").forEach(function (a) {
      a.setAttribute("href", data.url);
      a.textContent = label + " v" + data.version;
    });
    document.querySelectorAll("[data-download-link]").forEach(function (a) {
      a.setAttribute("href", a.getAttribute("href").replace(from, to));
    });
    document.getElementById("modeler-opened").textContent = label + " v" + data.version;
    document.title = document.title.replace(/·.*$/, "· " + label + " v" + data.version);
  }

  if (confirmBox) {
    document.getElementById("confirm-cancel").addEventListener("click", function () {
      pending = null;
      confirmBox.close();
      say("Nothing was deployed.", "info");
    });
    confirmBox.addEventListener("cancel", function () { pending = null; say("Nothing was deployed.", "info"); });
    document.getElementById("confirm-deploy").addEventListener("click", function () {
      var job = pending;
      pending = null;
      confirmBox.close();
      if (!job) { return; }
      run("data-deploy-url", true, function (data) {
        var label = data.centre ? data.centre + " variant" : "Base processes";
        statusBox.className = "owner-status flash flash-success";
        statusBox.textContent = (data.created ? "Deployed " + label + " version " + data.version + ": " + (data.summary || "")
                                 : "Nothing changed: " + label + " version " + data.version + " already has these files") + ". ";
        statusBox.appendChild(el("a", { href: data.url }, "Open version " + data.version));
        root.setAttribute("data-deployed", String(data.version));
        showWarnings(data.warnings);
        Object.keys(forms).forEach(function (name) { forms[name].edited = false; });
        moveTo(data);
        deployed(job.edits);
      }, job.files);
    });
  }

  // --- references SpiffWorkflow reads as names ------------------------------------------------------
  // bpmn-moddle resolves an element-valued reference by id and drops one that names no element. SpiffWorkflow
  // writes variable names there: a multi-instance activity's loopDataInputRef / loopDataOutputRef hold the names of
  // the input and output collections. Each dropped reference is put back as a stand-in element with that id, so it
  // is written back exactly as it was read (issue 15.7); the import's warnings say which.
  function keepUnresolvedReferences(warnings) {
    var kept = 0;
    (warnings || []).forEach(function (w) {
      if (!w.element || !w.property || typeof w.value !== "string" || !/^unresolved reference/.test(w.message)) {
        return;
      }
      var descriptor = w.element.$descriptor && w.element.$descriptor.propertiesByName[w.property];
      if (!descriptor || !descriptor.isReference) { return; }
      var standIn;
      try { standIn = moddle.create(descriptor.type, { id: w.value }); } catch (e) { standIn = { id: w.value }; }
      if (descriptor.isMany) {
        w.element.get(descriptor.name).push(standIn);
      } else {
        w.element.set(descriptor.name, standIn);
      }
      kept += 1;
    });
    return kept;
  }

  var xml = JSON.parse(document.getElementById("modeler-xml").textContent);
  modeler.importXML(xml).then(function (result) {
    var loading = root.querySelector(".diagram-status");
    if (loading) { loading.remove(); }
    var kept = keepUnresolvedReferences(result.warnings);
    root.setAttribute("data-kept-references", String(kept));
    var warnings = (result.warnings || []).filter(function (w) { return !/^unresolved reference/.test(w.message); });
    if (warnings.length) {
      say("Opened with " + warnings.length + " warning(s): " + warnings[0].message, "warning");
    }
    modeler.get("canvas").zoom("fit-viewport", "auto");
    // registered after the import, whose stack reset is no edit; owners_properties.js edits through commands too
    modeler.on("commandStack.changed", edited);
    root.setAttribute("data-ready", "true");
  }).catch(function (error) { say("Could not open the diagram: " + error.message, "error"); });
})();
