"""Edit shipped BPMN in tests the way a process owner would, without depending on its exact text."""

from __future__ import annotations

import json

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NSMAP = {"bpmn": BPMN, "spiffworkflow": SPIFF}


def _q(tag: str) -> str:
    prefix, local = tag.split(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def replaced(files: dict, name: str, old: str, new: str) -> dict:
    """The bundle with the first `old` in file `name` replaced (which must be there)."""
    assert old in files[name], f"{old!r} not in {name}"
    return {**files, name: files[name].replace(old, new, 1)}


def line_of(text: str, fragment: str) -> int:
    """The 1-based line on which `fragment` first stands in `text`."""
    return text[: text.index(fragment)].count("\n") + 1


def insert_user_task(
    xml: str, after: str, task_id: str, name: str, form: str | None = None, status: str | None = None
) -> str:
    """Put a user task on the (only) sequence flow leaving `after`, in the same lane as `after`."""
    props = {"formJsonSchemaFilename": form, "rmaStatus": status}
    return insert_node(xml, after, "bpmn:userTask", task_id, name, props)


def insert_call_activity(xml: str, after: str, activity_id: str, name: str, called: str, properties: dict) -> str:
    """Put a call activity of process `called` (a stage, in the skeleton) on the sequence flow leaving `after`."""
    return insert_node(xml, after, "bpmn:callActivity", activity_id, name, properties, calledElement=called)


def insert_node(xml: str, after: str, tag: str, task_id: str, name: str, props: dict, **attributes: str) -> str:
    """Put a flow node `tag` (with `props` as its spiffworkflow:properties) on the (only) sequence flow leaving
    `after`, in the same lane as `after`."""
    root = etree.fromstring(xml.encode("utf-8"))
    node = root.find(f".//*[@id='{after}']")
    process = node.getparent()
    flow = next(f for f in process.iter(_q("bpmn:sequenceFlow")) if f.get("sourceRef") == after)
    old_target = flow.get("targetRef")
    task = etree.Element(_q(tag), id=task_id, name=name, **attributes)
    if any(props.values()):
        ext = etree.SubElement(task, _q("bpmn:extensionElements"))
        holder = etree.SubElement(ext, _q("spiffworkflow:properties"))
        for key, value in props.items():
            if value:
                etree.SubElement(holder, _q("spiffworkflow:property"), name=key, value=value)
    etree.SubElement(task, _q("bpmn:incoming")).text = flow.get("id")
    etree.SubElement(task, _q("bpmn:outgoing")).text = f"flow_{task_id}_out"
    node.addnext(task)
    flow.set("targetRef", task_id)
    new_flow = etree.SubElement(
        process, _q("bpmn:sequenceFlow"), id=f"flow_{task_id}_out", sourceRef=task_id, targetRef=old_target
    )
    process.remove(new_flow)
    flow.addnext(new_flow)
    target = process.find(f"*[@id='{old_target}']")
    for incoming in target.iterfind(_q("bpmn:incoming")):
        if incoming.text == flow.get("id"):
            incoming.text = new_flow.get("id")
    for ref in root.iter(_q("bpmn:flowNodeRef")):
        if ref.text == after:
            etree.SubElement(ref.getparent(), _q("bpmn:flowNodeRef")).text = task_id
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def simple_form(title: str, field: str, label: str) -> str:
    return json.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": title,
            "type": "object",
            "required": [field],
            "properties": {field: {"type": "string", "title": label, "minLength": 1}},
        },
        indent=2,
    )


def add_plain_centre(orc, code: str = "NL") -> None:
    """A centre without a regional variant (its RMAs run the base), with staff and a centre process owner."""
    from engine.services import users

    users.upsert_centre(orc, code, f"{code} Service Centre", "EUR", 70, "Europe/Amsterdam")
    password = users.hash_password("demo")
    for role in ("reception", "technician", "qa", "process_owner"):
        name = {"technician": "tech", "process_owner": "owner"}.get(role, role)
        users.add_user(orc, f"{code.lower()}.{name}", role, code, None, password_hash=password)
