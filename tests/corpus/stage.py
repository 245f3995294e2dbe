"""Build a centre's quality-check stage (`rma_qa`) around one BPMN construct, as a process owner would draw it.

Every variant of the corpus is the QA stage of centre DE with the construct placed before (or around) the
quality check itself: the RMA reaches QA through the shipped stages, runs the construct, is checked and returned.
Only the construct's own XML is written per case; lanes and namespaces are filled in here.
"""

from __future__ import annotations

import json

from lxml import etree

from engine.process.policy import FLOW_NODE_TAGS  # the flow nodes a lane lists

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="corpus_qa_definitions" targetNamespace="urn:rma-orchestrator:corpus">\n'
)
STEP_FORM = "corpus_step.json"
FLAG_FORM = "corpus_flag.json"
FORMS = {
    STEP_FORM: json.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Corpus step",
            "type": "object",
            "properties": {"note": {"type": "string", "title": "Note", "maxLength": 200}},
        }
    ),
    FLAG_FORM: json.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Corpus flag",
            "type": "object",
            "required": ["ready"],
            "properties": {"ready": {"type": "boolean", "title": "Ready"}},
        }
    ),
}


def props(**values: str) -> str:
    """A spiffworkflow:properties block (inside extensionElements)."""
    inner = "".join(f'<spiffworkflow:property name="{k}" value="{v}" />' for k, v in values.items())
    return f"<spiffworkflow:properties>{inner}</spiffworkflow:properties>"


def user(task_id: str, form: str = STEP_FORM, extra: str = "", inner: str = "", tag: str = "userTask") -> str:
    """A user task with a form (and optional further extension elements and inner XML such as loops)."""
    return (
        f'<bpmn:{tag} id="{task_id}" name="{task_id}"><bpmn:extensionElements>'
        f"{props(formJsonSchemaFilename=form)}{extra}</bpmn:extensionElements>{inner}</bpmn:{tag}>"
    )


def script(task_id: str, code: str, inner: str = "") -> str:
    body = f"{inner}<bpmn:script>{_x(code)}</bpmn:script>"
    return f'<bpmn:scriptTask id="{task_id}" name="{task_id}">{body}</bpmn:scriptTask>'


def qa_check() -> str:
    return (
        '<bpmn:userTask id="qa_check" name="Quality check"><bpmn:extensionElements>'
        f"{props(formJsonSchemaFilename='qa_check.json', rmaStatus='quality_check')}"
        "</bpmn:extensionElements></bpmn:userTask>"
    )


def start(event_id: str = "start") -> str:
    return f'<bpmn:startEvent id="{event_id}" />'


def end(event_id: str = "end", definition: str = "") -> str:
    return f'<bpmn:endEvent id="{event_id}">{definition}</bpmn:endEvent>'


def chain(*ids: str, prefix: str = "") -> str:
    """Sequence flows linking the ids in order."""
    return "".join(flow(a, b, prefix=prefix) for a, b in zip(ids, ids[1:], strict=False))


def flow(source: str, target: str, condition: str | None = None, flow_id: str | None = None, prefix: str = "") -> str:
    fid = flow_id or f"{prefix}f_{source}_{target}"
    if condition is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{_x(condition)}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


def check(gateway_id: str, condition: str, then: str = "qa_check") -> str:
    """An exclusive gateway that goes on to `then` when `condition` holds and through the task `wrong` otherwise:
    a construct that computed the wrong data opens a task the test would see (and still passes QA, as the policy
    wants of every path)."""
    return (
        f'<bpmn:exclusiveGateway id="{gateway_id}" default="f_{gateway_id}_wrong" />'
        + flow(gateway_id, then, condition, flow_id=f"f_{gateway_id}_ok")
        + flow(gateway_id, f"wrong_{gateway_id}", flow_id=f"f_{gateway_id}_wrong")
        + user(f"wrong_{gateway_id}")
        + flow(f"wrong_{gateway_id}", then)
    )


def stage(
    body: str,
    extra_processes: str = "",
    lane: str | None = "QA",
    outside: frozenset = frozenset(),
    process_id: str = "rma_qa",
) -> str:
    """The QA stage file: `body` inside the process, every direct flow node but those `outside` in lane `lane`."""
    process = f'<bpmn:process id="{process_id}" name="Corpus QA" isExecutable="true">{body}</bpmn:process>'
    root = etree.fromstring((HEAD + process + extra_processes + "</bpmn:definitions>").encode())
    for proc in root.iterfind(f"{{{BPMN}}}process"):
        ids = [
            el.get("id") for el in proc if etree.QName(el).localname in FLOW_NODE_TAGS and el.get("id") not in outside
        ]
        if not ids or lane is None:
            continue
        lane_set = etree.Element(f"{{{BPMN}}}laneSet", id=f"{proc.get('id')}_lanes")
        lane_el = etree.SubElement(lane_set, f"{{{BPMN}}}lane", id=f"{proc.get('id')}_lane", name=lane)
        for node_id in ids:
            etree.SubElement(lane_el, f"{{{BPMN}}}flowNodeRef").text = node_id
        proc.insert(0, lane_set)
    etree.indent(root)  # one element a line, as modelers write it: refusals name real lines
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()


def _x(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
