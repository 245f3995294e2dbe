"""The stage table (engine.process.stages) that an RMA's tracking page and estimate read: its bundle version's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.process.stages import StageTable, shipped
from engine.services.processes import current_bundle
from engine.store.model import Instance, Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

_BUNDLE_OF = select(Instance.bundle_id).where(Instance.rma_id == bindparam("rma_id"))


def of_rma(orc: Orchestrator, session: Session, rma: Rma) -> StageTable:
    """The stages of the bundle version the RMA runs on (parsed with its specs, cached by hash); a request
    not started yet: those of the version it will start on."""
    instance = session.identity_map.get(identity_key(Instance, rma.id))  # loaded by the command already
    if instance is None:  # an RMA starting now: its instance is added, not flushed yet (one query fewer or two)
        instance = next((o for o in session.new if isinstance(o, Instance) and o.rma_id == rma.id), None)
    bundle_id = instance.bundle_id if instance is not None else session.scalar(_BUNDLE_OF, {"rma_id": rma.id})
    if bundle_id is None:
        return of_centre(orc, session, rma.centre_code)
    return orc.parsed_bundle(session, bundle_id).stages


def of_centre(orc: Orchestrator, session: Session, centre_code: str) -> StageTable:
    """The stages of the version a new RMA of the centre starts on (the shipped ones before any deploy)."""
    bundle = current_bundle(session, centre_code)
    return orc.parsed_bundle(session, bundle.id).stages if bundle is not None else shipped()
