/* The modeler's element panel, beside the form editor: when a timer event fires (duration, date or cycle)
   and which system a service task calls (spiffworkflow:serviceTaskOperator with its parameters, the ids of
   SpiffArena's HTTP connector). Values are expressions over the process data, as the engine evaluates them.
   Every other extension element stays as it was read. */
(function () {
  "use strict";

  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];
  var BODY_PARAM = { "http/PostRequest": "data", "http/PutRequest": "data", "http/GetRequest": "params" };

  var modeler = window.rmaModeler;
  if (!modeler) { return; }
  var moddle = modeler.get("moddle");
  var modeling = modeler.get("modeling");
  var hint = document.getElementById("element-panel-hint");
  var timerBox = document.getElementById("timer-editor");
  var serviceBox = document.getElementById("service-editor");
  var field = function (id) { return document.getElementById(id); };
  var current = null;

  // --- timers ------------------------------------------------------------------------------------
  function timerOf(element) {
    var defs = element.businessObject.eventDefinitions || [];
    return defs.filter(function (d) { return d.$type === "bpmn:TimerEventDefinition"; })[0] || null;
  }

  function showTimer(element, timer) {
    var kind = TIMER_KINDS.filter(function (k) { return timer[k]; })[0] || "timeDuration";
    field("timer-kind").value = kind;
    field("timer-expression").value = timer[kind] ? timer[kind].body || "" : "";
    timerBox.querySelector("[data-testid=timer-id]").textContent = element.id;
    timerBox.hidden = false;
  }

  function saveTimer() {
    var timer = current && timerOf(current);
    if (!timer) { return; }
    var props = {};
    TIMER_KINDS.forEach(function (k) { props[k] = undefined; });
    props[field("timer-kind").value] = moddle.create("bpmn:FormalExpression", { body: field("timer-expression").value });
    modeling.updateModdleProperties(current, timer, props);
  }

  // --- service tasks: generic spiffworkflow elements, as bpmn-moddle reads unknown namespaces -------
  function children(node, type) {
    return (node.$children || []).filter(function (c) { return c.$type === type; });
  }

  function operatorOf(bo, create) {
    return window.rmaSpiffExtension(bo, "spiffworkflow:serviceTaskOperator", create, { id: "http/PostRequest" });
  }

  function parameterList(operator, create) {
    operator.$children = operator.$children || [];
    var list = children(operator, "spiffworkflow:parameters")[0];
    if (!list && create) {
      list = moddle.createAny("spiffworkflow:parameters", SPIFF, { $children: [] });
      list.$parent = operator;
      operator.$children.push(list);
    }
    return list || null;
  }

  function getParam(operator, name) {
    var list = operator && parameterList(operator, false);
    var found = list && children(list, "spiffworkflow:parameter").filter(function (p) { return p.id === name; })[0];
    return found ? found.value || "" : "";
  }

  function setParam(operator, name, value) {
    var list = parameterList(operator, true);
    list.$children = list.$children || [];
    var found = children(list, "spiffworkflow:parameter").filter(function (p) { return p.id === name; })[0];
    if (!value) {
      if (found) { list.$children.splice(list.$children.indexOf(found), 1); }
      return;
    }
    if (!found) {
      found = moddle.createAny("spiffworkflow:parameter", SPIFF, { id: name, type: name === "url" ? "str" : "any" });
      found.$parent = list;
      list.$children.push(found);
    }
    found.value = value;
  }

  function bodyLabel(operatorId) {
    field("service-body-label").textContent = BODY_PARAM[operatorId] === "params" ? "Query parameters expression"
      : "JSON body expression";
  }

  function showService(element) {
    var operator = operatorOf(element.businessObject, false);
    var id = operator && BODY_PARAM[operator.id] ? operator.id : "http/PostRequest";
    field("service-operator").value = id;
    bodyLabel(id);
    field("service-url").value = getParam(operator, "url");
    field("service-body").value = getParam(operator, BODY_PARAM[id]);
    field("service-headers").value = getParam(operator, "headers");
    field("service-result").value = operator ? operator.resultVariable || "" : "";
    serviceBox.querySelector("[data-testid=service-id]").textContent = element.id;
    serviceBox.hidden = false;
  }

  function saveService() {
    if (!current || current.type !== "bpmn:ServiceTask") { return; }
    var operator = operatorOf(current.businessObject, true);
    var previous = BODY_PARAM[operator.id];
    operator.id = field("service-operator").value;
    bodyLabel(operator.id);
    if (previous && previous !== BODY_PARAM[operator.id]) { setParam(operator, previous, ""); }
    setParam(operator, "url", field("service-url").value.trim());
    setParam(operator, BODY_PARAM[operator.id], field("service-body").value.trim());
    setParam(operator, "headers", field("service-headers").value.trim());
    var result = field("service-result").value.trim();
    if (result) { operator.resultVariable = result; } else { delete operator.resultVariable; }
    modeler.get("eventBus").fire("elements.changed", { elements: [current] });
  }

  // --- wiring ------------------------------------------------------------------------------------
  function show(element) {
    current = element;
    timerBox.hidden = serviceBox.hidden = true;
    var timer = element && timerOf(element);
    if (timer) { showTimer(element, timer); } else if (element && element.type === "bpmn:ServiceTask") { showService(element); }
    hint.hidden = !timerBox.hidden || !serviceBox.hidden;
  }

  ["timer-kind", "timer-expression"].forEach(function (id) { field(id).addEventListener("change", saveTimer); });
  ["service-operator", "service-url", "service-body", "service-headers", "service-result"].forEach(function (id) {
    field(id).addEventListener("change", saveService);
  });
  modeler.on("selection.changed", function (event) {
    show(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });
})();
