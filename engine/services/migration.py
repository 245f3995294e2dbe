"""Move running RMAs to a newer process version: a preview first, then an explicit bulk move.

Candidates are the running RMAs on an older version of the same processes: for a base version, RMAs
on older base versions; for a centre's variant, that centre's RMAs on older variant versions or on
any base version. Each move is one unit of work (load, move, save state and projections, audit),
version-checked like every command, so one RMA that cannot move does not hold the others back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import EngineError, NotFound, RmaNotFound
from engine.execution.migration import MigrationRefused, migrate, refusals
from engine.process.definitions import ParsedBundle
from engine.services.instances import apply, lock_instance
from engine.services.processes import check_may_deploy
from engine.services.versions import find_bundle
from engine.store.audit import audit
from engine.store.model import Bundle, Instance, ProcessMigration, Rma

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

log = logging.getLogger(__name__)


def _label(bundle: Bundle) -> dict:
    return {"id": bundle.id, "version": bundle.version, "centre": bundle.centre_code}


def _name(bundle: Bundle) -> str:
    return f"{bundle.centre_code + ' variant' if bundle.centre_code else 'base'} v{bundle.version}"


def _candidates(session: Session, target: Bundle, rma_ids: list[int] | None) -> list[tuple[Rma, Instance, Bundle]]:
    query = (
        select(Rma, Instance, Bundle)
        .join(Instance, Instance.rma_id == Rma.id)
        .join(Bundle, Bundle.id == Instance.bundle_id)
        .where(Instance.completed.is_(False), Instance.bundle_id != target.id)
    )
    if target.centre_code is None:
        query = query.where(Bundle.centre_code.is_(None), Bundle.version < target.version)
    else:
        query = query.where(
            Rma.centre_code == target.centre_code,
            or_(
                Bundle.centre_code.is_(None),
                (Bundle.centre_code == target.centre_code) & (Bundle.version < target.version),
            ),
        )
    if rma_ids:
        query = query.where(Rma.id.in_(rma_ids))
    return list(session.execute(query.order_by(Rma.id)).all())


def _item(rma: Rma, bundle: Bundle, reasons: list[str] | None = None) -> dict:
    item: dict[str, Any] = {
        "rma_id": rma.id,
        "number": rma.number,
        "status": rma.status,
        "stage": rma.stage,
        "from": _label(bundle),
    }
    if reasons is not None:
        item["reasons"] = reasons
    return item


def _try(orc: Orchestrator, parsed_from: ParsedBundle, parsed_to: ParsedBundle, state: bytes) -> list[str]:
    """Why this instance cannot move (empty: it can), found by moving a loaded copy and restoring it."""
    workflow = orc.runtime.load(parsed_from, state)
    reasons = refusals(workflow, parsed_to)
    if reasons:
        return reasons
    try:
        migrate(workflow, parsed_to)
        orc.runtime.load(parsed_to, orc.runtime.dump(workflow))
    except MigrationRefused as exc:
        return exc.reasons
    except Exception as exc:  # noqa: BLE001 - any failure to move is a reason to stay
        return [f"the instance does not restore on the target version: {exc}"]
    return []


def preview_migration(
    orc: Orchestrator, actor: Actor, version: int, centre: str | None, rma_ids: list[int] | None = None
) -> dict:
    """Which running RMAs can move to the version, and why the others cannot. Nothing is changed."""
    check_may_deploy(actor, centre)
    with orc.uow() as uow:
        s = uow.session
        target = find_bundle(s, version, centre)
        parsed_to = orc.parsed_bundle(s, target.id)
        movable: list[dict] = []
        blocked: list[dict] = []
        for rma, instance, bundle in _candidates(s, target, rma_ids):
            reasons = _try(orc, orc.parsed_bundle(s, bundle.id), parsed_to, instance.state)
            (blocked if reasons else movable).append(_item(rma, bundle, reasons or None))
        return {
            "target": _label(target),
            "dry_run": True,
            "movable": movable,
            "blocked": blocked,
            "moved": [],
            "failed": [],
        }


def migrate_rmas(
    orc: Orchestrator,
    actor: Actor,
    version: int,
    centre: str | None,
    dry_run: bool = True,
    rma_ids: list[int] | None = None,
) -> dict:
    """The preview (`dry_run`), or move every RMA that can move, each in its own audited transaction."""
    if dry_run:
        return preview_migration(orc, actor, version, centre, rma_ids)
    check_may_deploy(actor, centre)
    with orc.uow() as uow:
        target = find_bundle(uow.session, version, centre)
        target_id, target_label, target_name = target.id, _label(target), _name(target)
        candidates = [(rma.id, _item(rma, bundle)) for rma, _i, bundle in _candidates(uow.session, target, rma_ids)]
    moved: list[dict] = []
    blocked: list[dict] = []
    failed: list[dict] = []
    for rma_id, item in candidates:
        try:
            moved.append({**item, **_move_one(orc, actor, rma_id, target_id)})
        except MigrationRefused as exc:
            blocked.append({**item, "reasons": exc.reasons})
        except EngineError as exc:
            failed.append({**item, "reasons": [exc.message]})
        except Exception as exc:  # noqa: BLE001 - one broken instance must not stop the others
            log.exception("moving RMA %s to bundle %s failed", rma_id, target_id)
            failed.append({**item, "reasons": [f"internal error: {type(exc).__name__}; nothing was changed"]})
    with orc.uow() as uow:
        s = uow.session
        s.add(
            ProcessMigration(
                target_bundle_id=target_id,
                actor=actor.username,
                moved=len(moved),
                refused=len(blocked) + len(failed),
                detail={
                    "moved": [m["rma_id"] for m in moved],
                    "refused": {str(b["rma_id"]): b["reasons"] for b in blocked + failed},
                },
            )
        )
        audit(
            s,
            None,
            actor,
            "process_migration",
            f"{len(moved)} running RMA(s) moved to {target_name}; {len(blocked) + len(failed)} stayed",
            data={
                "bundle_id": target_id,
                "moved": [m["number"] for m in moved],
                "stayed": [b["number"] for b in blocked + failed],
            },
        )
        uow.commit()
    return {
        "target": target_label,
        "dry_run": False,
        "movable": [],
        "blocked": blocked,
        "moved": moved,
        "failed": failed,
    }


def _move_one(orc: Orchestrator, actor: Actor, rma_id: int, target_id: int) -> dict:
    with orc.uow() as uow:
        s = uow.session
        rma = s.get(Rma, rma_id)
        if rma is None:
            raise RmaNotFound(f"RMA {rma_id} not found")
        # under the lock: two managers migrating at once (or the timer sweep) wait for each other, and the
        # second finds the RMA moved already instead of moving it twice
        instance = lock_instance(s, rma_id)
        source, target = s.get(Bundle, instance.bundle_id), s.get(Bundle, target_id)
        if source is None or target is None:
            raise NotFound(f"no process version with id {target_id if target is None else instance.bundle_id}")
        if instance.completed:
            raise MigrationRefused(["the RMA has closed meanwhile"])
        if instance.bundle_id == target.id:
            raise MigrationRefused([f"the RMA was moved to {_name(target)} meanwhile"])
        parsed_to = orc.parsed_bundle(s, target.id)
        apply(orc, s, rma, actor, lambda workflow: migrate(workflow, parsed_to))
        instance.bundle_id = target.id
        orc.runtime.load(parsed_to, instance.state)  # the saved state must restore on the new specs
        audit(
            s,
            rma.id,
            actor,
            "process_migrated",
            f"moved from {_name(source)} to {_name(target)}",
            data={
                "from_bundle": source.id,
                "from_version": source.version,
                "to_bundle": target.id,
                "to_version": target.version,
                "centre": target.centre_code,
            },
        )
        uow.commit()
        return {"to": _label(target)}
