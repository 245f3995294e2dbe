"""What changed between two bundles: BPMN elements added, removed and changed per process (stage).

Elements are matched by id, as SpiffWorkflow's own spec diff does first. An element "changed" when its
canonical XML differs, ignoring the `<incoming>`/`<outgoing>` lists (a new flow is reported as the
flow itself, not as a change of both its ends) and the elements nested in it (reported on their own);
a move to another lane is a change (it changes who does the task). Diagram layout is compared apart.
"""

from __future__ import annotations

from lxml import etree

from engine.process.policy import FLOW_NODE_TAGS

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
SKIPPED = {"laneSet", "lane", "flowNodeRef", "childLaneSet", "incoming", "outgoing", "documentation"}
XML_FILES = (".bpmn",)


def _local(el) -> str:
    return etree.QName(el.tag).localname if isinstance(el.tag, str) else ""


CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}
NESTED = FLOW_NODE_TAGS | {
    "sequenceFlow",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
    "association",
}


def _flow_elements(container):
    """Elements with an id directly in a (sub)process, depth first; lanes and their references aside."""
    for el in container:
        if not isinstance(el.tag, str) or not el.get("id") or _local(el) in SKIPPED:
            continue
        yield el
        if _local(el) in CONTAINERS:
            yield from _flow_elements(el)


def _canonical(el, lane: str | None) -> bytes:
    copy = etree.fromstring(etree.tostring(el), _PARSER)
    for child in list(copy):
        name = _local(child)
        if name in ("incoming", "outgoing") or (_local(copy) in CONTAINERS and name in NESTED):
            copy.remove(child)
    if lane:
        copy.set("lane", lane)
    return etree.tostring(copy, method="c14n")


def process_elements(text: str) -> dict[str, dict]:
    """{process id: {"elements": {id: {id, name, type, canonical}}, "layout": bytes}} of one BPMN file."""
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return {}
    layout = b"".join(etree.tostring(d, method="c14n") for d in root.iter(f"{{{BPMNDI}}}BPMNDiagram"))
    result = {}
    for proc in root.iter(f"{{{BPMN}}}process"):
        lanes = {
            ref.text.strip(): lane.get("name")
            for lane in proc.iter(f"{{{BPMN}}}lane")
            for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef")
            if ref.text
        }
        elements = {
            el.get("id"): {
                "id": el.get("id"),
                "name": el.get("name") or "",
                "type": _local(el),
                "canonical": _canonical(el, lanes.get(el.get("id"))),
            }
            for el in _flow_elements(proc)
        }
        result[proc.get("id")] = {"elements": elements, "layout": layout}
    return result


def _processes(files: dict[str, str]) -> dict[str, tuple[str, dict]]:
    found = {}
    for name, text in files.items():
        if name.endswith(XML_FILES):
            for pid, info in process_elements(text).items():
                found[pid] = (name, info)
    return found


def _brief(element: dict) -> dict:
    return {"id": element["id"], "name": element["name"], "type": element["type"]}


def process_changes(old: dict | None, new: dict | None) -> dict:
    """Added, removed and changed elements between two process_elements() entries (None: absent)."""
    before = old["elements"] if old else {}
    after = new["elements"] if new else {}
    return {
        "added": [_brief(after[i]) for i in after if i not in before],
        "removed": [_brief(before[i]) for i in before if i not in after],
        "changed": [_brief(after[i]) for i in after if i in before and after[i]["canonical"] != before[i]["canonical"]],
        "layout_changed": bool(old and new and old["layout"] != new["layout"]),
    }


def bundle_changes(old_files: dict[str, str] | None, new_files: dict[str, str]) -> dict:
    """Per stage (process id) and per other file, what differs from `old_files` to `new_files`."""
    old_files = old_files or {}
    before, after = _processes(old_files), _processes(new_files)
    stages = []
    for pid in sorted(set(before) | set(after)):
        old, new = before.get(pid), after.get(pid)
        if old and new and old_files[old[0]] == new_files[new[0]]:
            continue
        diff = process_changes(old[1] if old else None, new[1] if new else None)
        status = "added" if old is None else "removed" if new is None else "changed"
        if status == "changed" and not (diff["added"] or diff["removed"] or diff["changed"] or diff["layout_changed"]):
            status = "reformatted"  # same elements and layout, different text (e.g. saved by another modeler)
        stages.append({"process": pid, "file": next(f[0] for f in (new, old) if f), "status": status, **diff})
    others = []
    for name in sorted(set(old_files) | set(new_files)):
        if name.endswith(XML_FILES):
            continue
        if name not in old_files:
            others.append({"file": name, "status": "added"})
        elif name not in new_files:
            others.append({"file": name, "status": "removed"})
        elif old_files[name] != new_files[name]:
            others.append({"file": name, "status": "changed"})
    return {"stages": stages, "files": others, "summary": summary(stages, others)}


def summary(stages: list[dict], others: list[dict]) -> str:
    parts = []
    for s in stages:
        if s["status"] in ("added", "removed"):
            parts.append(f"{s['process']} {s['status']}")
        else:
            counts = [f"{len(s[k])} {k}" for k in ("added", "removed", "changed") if s[k]]
            if s["layout_changed"]:
                counts.append("layout")
            parts.append(f"{s['process']}: {', '.join(counts) or s['status']}")
    parts += [f"{o['file']} {o['status']}" for o in others]
    return "; ".join(parts) or "no changes"
