"""Messages from integrators: any BPMN message an RMA's process waits for can be delivered over the API.

`POST /api/rmas/<id>/messages/<name>` with `{"data": {...}}`: the RMA must be waiting for that message right now
(a receive task, a message catch or boundary event, a branch of an event-based gateway, one of a multiple event's
definitions); the payload lands in the task data as the catching event says (its `messageVariable`) and the
message's correlation properties are computed from it (engine.execution.runtime.Runtime.deliver_message). Staff of
the RMA's centre may deliver (an integrator uses a staff account's token); customers and partners may not.

Because every awaited message can be delivered so, a message catch is never a dead end at deploy: "nobody can
send it" no longer exists. What can still leave an RMA silently stuck is shown instead: the RMA page lists the
messages it waits for (`awaited`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import sandbox
from engine.actors import ROLES, Actor
from engine.errors import Conflict, InvalidInput, NotAllowed, text_refusal
from engine.services import incidents
from engine.services.instances import apply, lock_instance
from engine.services.rmas import _visible_rma
from engine.store.audit import audit
from engine.store.model import Instance

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

MESSAGE_NAME_MAX = 200  # a BPMN message name in a URL
SENDER_ROLES = ROLES  # staff of the RMA's centre (global managers and process owners too); never customers
# Messages the product's own commands deliver, with the checks and records that go with them: sent here they would
# skip those (a goodwill offer's approval rules, the request's parcel booking), so they are refused naming the way.
OWN_COMMANDS = {
    "parcel_received": "POST /api/parcels (reception books the parcel in)",
    "goodwill_proposed": "POST /api/rmas/<id>/goodwill (a manager proposes goodwill)",
}


def _check_name(name: str) -> str:
    refusal = text_refusal(name)
    if refusal or not name.strip() or len(name) > MESSAGE_NAME_MAX:
        raise InvalidInput(refusal or f"a message name is 1 to {MESSAGE_NAME_MAX} characters", {"name": [refusal]})
    return name


def _check_payload(data: dict) -> None:
    """Plain, bounded data (what a form may put in task data) whose every text a column can store."""
    try:
        sandbox.check_data(data)
    except sandbox.SandboxViolation as exc:
        raise InvalidInput(str(exc), {"data": [str(exc)]}) from None
    stack: list = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str) and (refusal := text_refusal(item)):
            raise InvalidInput(refusal, {"data": [refusal]})


def deliver(orc: Orchestrator, actor: Actor, rma_id: int, name: str, data: dict | None) -> dict:
    """Deliver message `name` with payload `data` to RMA `rma_id` (202); 409 when it is not waiting for it."""
    if actor.role not in SENDER_ROLES:
        raise NotAllowed("only staff of the RMA's centre may deliver messages to its process")
    _check_name(name)
    if name in OWN_COMMANDS:
        raise Conflict(f"the message '{name}' is delivered by its own command: {OWN_COMMANDS[name]}")
    payload = dict(data or {})
    _check_payload(payload)
    with orc.uow() as uow:
        s = uow.session
        rma = _visible_rma(s, actor, rma_id)  # another centre's RMA is 404
        lock_instance(s, rma.id)  # before any task row, in the timer sweep's order; the RMA read again under it
        if rma.closed_at is not None or rma.status == "closed":
            raise Conflict(f"{rma.number} is closed: it waits for no message")
        if rma.status == incidents.INCIDENT:
            raise Conflict(f"{rma.number} is in incident: retry or cancel it first")
        audit(
            s,
            rma.id,
            actor,
            "message_delivered",
            f"message {name} delivered"[:2000],
            data={"message": name, "keys": sorted(payload)[:50]},
        )
        # MessageNotAwaited (409) when nothing waits for it: the unit of work rolls back, nothing is kept
        apply(orc, s, rma, actor, lambda wf: orc.runtime.deliver_message(wf, name, payload))
        uow.commit()
        return {
            "message": name,
            "rma": {"id": rma.id, "number": rma.number, "status": rma.status, "stage": rma.stage},
        }


def awaited(orc: Orchestrator, actor: Actor, rma_id: int) -> list[dict]:
    """The messages RMA `rma_id` waits for now: [{message, element, title, via}] (none when closed or in incident)."""
    with orc.reading() as s:
        rma = _visible_rma(s, actor, rma_id)
        instance = s.get(Instance, rma.id)
        if instance is None or instance.completed or rma.status == incidents.INCIDENT:
            return []
        workflow = orc.runtime.load(orc.parsed_bundle(s, instance.bundle_id), instance.state)
        return [
            {
                "message": m,
                "element": e,
                "title": title,
                "via": OWN_COMMANDS.get(m, f"POST /api/rmas/{rma.id}/messages/{m}"),
            }
            for m, e, title in orc.runtime.awaited_elements(workflow)
        ]
