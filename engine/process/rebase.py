"""Move a centre's variant onto a new base: a three-way merge of files, and of BPMN elements within a stage.

`old` is the base the variant was built on, `new` the new base, `ours` the variant. Per file (BPMN files
keyed by the process they define): what only the base changed is taken from the base, what only the
variant changed is kept. A stage both changed is merged element by element (flow elements by id,
lanes by their members, diagram shapes by the element they draw), so a base fix to a script reaches a
variant that only added a task next to it. Both sides changing the same element is a conflict: the
variant then stays on its old base and the conflicts are reported.
"""

from __future__ import annotations

import copy

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
MISSING = None


def _key(name: str, text: str) -> str:
    if name.endswith(".bpmn"):
        try:
            root = etree.fromstring(text.encode("utf-8"), _PARSER)
        except etree.XMLSyntaxError:
            return name
        ids = sorted(p.get("id") for p in root.iter(f"{{{BPMN}}}process"))
        return "bpmn:" + ",".join(ids) if ids else name
    return name


def _keyed(files: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {_key(name, text): (name, text) for name, text in files.items()}


def _pick(o, n, v):
    """Three-way choice of equal-or-not values; returns (value, conflict)."""
    if v == o:
        return n, False
    if n == o or n == v:
        return v, False
    return v, True


def three_way(old: dict[str, str], new: dict[str, str], ours: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(the variant's files on the new base, conflicts); with conflicts the result is not to be used."""
    o, n, v = _keyed(old), _keyed(new), _keyed(ours)
    result, conflicts = {}, []
    for key in sorted(set(o) | set(n) | set(v)):
        ot, nt, vt = (x.get(key, (None, None))[1] for x in (o, n, v))
        name = next(files[key][0] for files in (v, n, o) if key in files)
        text, conflict = _pick(ot, nt, vt)
        if conflict and ot and nt and vt and key.startswith("bpmn:"):
            text, element_conflicts = merge_bpmn(ot, nt, vt)
            conflicts += [f"{name}: {c}" for c in element_conflicts]
        elif conflict:
            conflicts.append(f"{name}: changed in the base and in the variant")
        if text is not None:
            result[name] = text
    return result, conflicts


def _c14n(el) -> bytes:
    return etree.tostring(el, method="c14n") if el is not None else b""


def _items(container, key_of) -> dict:
    return {key_of(el): el for el in container if isinstance(el.tag, str) and key_of(el)}


def _flow_key(el) -> str | None:
    local = etree.QName(el).localname
    if local == "laneSet":
        return None  # lanes merge by their members (_merge_lanes)
    return el.get("id") or f"<{local}>"


def _merge_container(o_box, n_box, v_box, key_of, conflicts: list, where: str) -> None:
    """Three-way merge of `v_box`'s keyed children in place, taking the base's side from `n_box`."""
    o_items, n_items = _items(o_box, key_of), _items(n_box, key_of)
    v_items = _items(v_box, key_of)
    for key, ve in v_items.items():
        oe, ne = o_items.get(key), n_items.get(key)
        o_c, n_c, v_c = _c14n(oe), _c14n(ne), _c14n(ve)
        if oe is not None and ne is None:  # the base removed it
            if v_c == o_c:
                v_box.remove(ve)
            else:
                conflicts.append(f"{where} '{key}' was removed in the base but changed in the variant")
        elif ne is not None and n_c != o_c and v_c != n_c:
            if oe is not None and v_c == o_c:
                v_box.replace(ve, copy.deepcopy(ne))
            else:
                conflicts.append(f"{where} '{key}' was changed in the base and in the variant")
    anchor = None
    for key, ne in n_items.items():
        merged = _items(v_box, key_of)
        if key in merged:
            anchor = merged[key]
            continue
        if key in o_items:  # the variant removed it on purpose
            if _c14n(ne) != _c14n(o_items[key]):
                conflicts.append(f"{where} '{key}' was removed in the variant but changed in the base")
            continue
        added = copy.deepcopy(ne)  # new in the base: after its predecessor in the base's order
        if anchor is not None:
            anchor.addnext(added)
        else:
            first = next(iter(merged.values()), None)
            (first.addprevious(added) if first is not None else v_box.append(added))
        anchor = added


def _lane_refs(lane) -> set[str]:
    return {r.text.strip() for r in lane.iterfind(f"{{{BPMN}}}flowNodeRef") if r.text}


def _merge_lanes(o_proc, n_proc, v_proc, conflicts: list) -> None:
    lanes = lambda proc: {lane.get("id"): lane for lane in proc.iter(f"{{{BPMN}}}lane")}  # noqa: E731
    o_lanes, n_lanes, v_lanes = lanes(o_proc), lanes(n_proc), lanes(v_proc)
    present = {el.get("id") for el in v_proc.iter() if isinstance(el.tag, str) and el.get("id")}
    for lane_id, lane in v_lanes.items():
        o_refs = _lane_refs(o_lanes[lane_id]) if lane_id in o_lanes else set()
        n_refs = _lane_refs(n_lanes[lane_id]) if lane_id in n_lanes else o_refs
        refs = ((_lane_refs(lane) - (o_refs - n_refs)) | (n_refs - o_refs)) & present
        for ref in list(lane.iterfind(f"{{{BPMN}}}flowNodeRef")):
            lane.remove(ref)
        anchor = lane.find(f"{{{BPMN}}}childLaneSet")
        for ref_id in sorted(refs):
            ref = etree.Element(f"{{{BPMN}}}flowNodeRef")
            ref.text = ref_id
            if anchor is not None:
                anchor.addprevious(ref)
            else:
                lane.append(ref)
    for lane_id in set(n_lanes) - set(o_lanes) - set(v_lanes):
        conflicts.append(f"lane '{lane_id}' was added in the base; add it to the variant by hand")


def merge_bpmn(old: str, new: str, ours: str) -> tuple[str, list[str]]:
    """Element-level three-way merge of one stage file; returns (merged XML, conflicts)."""
    trees = [etree.fromstring(t.encode("utf-8"), _PARSER) for t in (old, new, ours)]
    o_root, n_root, v_root = trees
    conflicts: list[str] = []
    for v_proc in v_root.iter(f"{{{BPMN}}}process"):
        pid = v_proc.get("id")
        o_proc = next((p for p in o_root.iter(f"{{{BPMN}}}process") if p.get("id") == pid), None)
        n_proc = next((p for p in n_root.iter(f"{{{BPMN}}}process") if p.get("id") == pid), None)
        if o_proc is None or n_proc is None:
            conflicts.append(f"process '{pid}' is not in both bases")
            continue
        _merge_container(o_proc, n_proc, v_proc, _flow_key, conflicts, "element")
        _merge_lanes(o_proc, n_proc, v_proc, conflicts)
    o_plane, n_plane, v_plane = (next(iter(t.iter(f"{{{BPMNDI}}}BPMNPlane")), None) for t in trees)
    if o_plane is not None and n_plane is not None and v_plane is not None:
        _merge_container(o_plane, n_plane, v_plane, lambda el: el.get("bpmnElement"), conflicts, "diagram shape of")
    text = etree.tostring(v_root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    return text, conflicts
