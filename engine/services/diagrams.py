"""The BPMN an RMA runs on, for showing it with the current step highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.actors import Actor
from engine.process.definitions import ROOT_PROCESS_ID
from engine.process.stages import stage_key
from engine.services.rmas import _bundle_id, _visible_rma, rma_open_tasks

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator


def rma_diagram(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    """The skeleton and the open stage's diagram (XML) of the RMA's own bundle version, with ids to highlight.

    `skeleton.highlight` holds the current stage's call activity (`stage_<stage>`); `stage_diagram`
    is None when no stage is open (e.g. the RMA is closed); its `highlight` holds the open tasks' ids.
    """
    with orc.reading() as s:
        rma = _visible_rma(s, actor, rma_id)
        parsed = orc.parsed_bundle(s, _bundle_id(s, rma.id))
        open_tasks = rma_open_tasks(s, rma.id)
        stage = next((t["stage"] for t in open_tasks if t["stage"]), None) or (None if rma.closed_at else rma.stage)
        skeleton_file = parsed.process_files[ROOT_PROCESS_ID]
        result = {
            "rma_id": rma.id,
            "number": rma.number,
            "stage": stage,
            "closed": rma.closed_at is not None,
            "skeleton": {
                "process_id": ROOT_PROCESS_ID,
                "file": skeleton_file,
                "xml": parsed.files[skeleton_file],
                "highlight": [f"stage_{stage}"] if stage else [],
            },
            "stage_diagram": None,
        }
        process_id = (
            next((pid for pid in parsed.process_files if pid != ROOT_PROCESS_ID and stage_key(pid) == stage), None)
            if stage
            else None
        )
        if process_id is not None:
            file = parsed.process_files[process_id]
            result["stage_diagram"] = {
                "process_id": process_id,
                "file": file,
                "xml": parsed.files[file],
                "highlight": sorted({t["name"] for t in open_tasks if t["stage"] == stage}),
            }
        return result
