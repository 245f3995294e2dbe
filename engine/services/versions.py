"""Read deployed process versions: history per centre, files, what changed, variant against base."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.errors import NotAllowed, NotFound
from engine.process.definitions import ROOT_PROCESS_ID
from engine.process.diffing import bundle_changes, process_elements
from engine.store.model import Bundle, Centre, Instance, ProcessDeploy

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

READ_ROLES = ("process_owner", "manager", "system")
MEDIA_TYPES = {".bpmn": "application/xml", ".dmn": "application/xml", ".json": "application/json"}


def check_may_read(actor: Actor, centre: str | None = None) -> None:
    """Process owners and managers read versions; one scoped to a centre reads the base and its own centre."""
    if actor.role not in READ_ROLES:
        raise NotAllowed("only process owners and managers may see process versions")
    if centre is not None and not actor.may_see_centre(centre):
        raise NotAllowed(f"you may see only the base processes and those of centre {actor.centre}")


class _ChangesCache:
    """Changes of bundles deployed without a deploy record, computed once per pair of hashes."""

    def __init__(self, size: int = 128):
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, old: Bundle | None, new: Bundle) -> dict:
        key = (old.hash if old else None, new.hash)
        with self._lock:
            if key in self._items:
                return self._items[key]
        value = bundle_changes(old.files if old else None, new.files)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


_changes = _ChangesCache()


def running_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Instance.bundle_id, func.count()).where(Instance.completed.is_(False)).group_by(Instance.bundle_id)
    )
    return {bundle_id: count for bundle_id, count in rows}


def find_bundle(session: Session, version: int, centre: str | None) -> Bundle:
    where = Bundle.centre_code.is_(None) if centre is None else Bundle.centre_code == centre
    bundle = session.scalar(select(Bundle).where(where, Bundle.version == version))
    if bundle is None:
        raise NotFound(f"no version {version} of the {'base processes' if centre is None else centre + ' variant'}")
    return bundle


def version_view(
    bundle: Bundle,
    record: ProcessDeploy | None,
    running: int,
    changes: dict | None,
    base: Bundle | None = None,
    current: bool = False,
) -> dict:
    return {
        "id": bundle.id,
        "version": bundle.version,
        "centre": bundle.centre_code,
        "hash": bundle.hash,
        "note": bundle.note,
        "deployed_by": bundle.deployed_by,
        "deployed_at": bundle.deployed_at,
        "running": running,
        "current": current,
        "base_version": base.version if base is not None else None,
        "base_id": base.id if base is not None else None,
        "uploaded": list(record.uploaded) if record is not None else [],
        "changes": changes,
    }


def _history(
    session: Session,
    bundles: list[Bundle],
    records: dict[int, ProcessDeploy],
    counts: dict[int, int],
    by_id: dict[int, Bundle],
) -> list[dict]:
    """Views of one centre's versions, newest first, each with what changed against the one before."""
    views = []
    ordered = sorted(bundles, key=lambda b: b.version)
    for index, bundle in enumerate(ordered):
        record = records.get(bundle.id)
        base = by_id.get(record.base_bundle_id) if record is not None and record.base_bundle_id else None
        if record is not None:
            changes = record.changes
        else:
            changes = _changes.get(ordered[index - 1] if index else None, bundle)
        views.append(
            version_view(bundle, record, counts.get(bundle.id, 0), changes, base, current=index == len(ordered) - 1)
        )
    return list(reversed(views))


def list_versions(orc: Orchestrator, actor: Actor) -> dict:
    """{centres: [{centre, name, versions: [...]}]}: the base first, then each centre the actor may see."""
    check_may_read(actor)
    with orc.reading() as s:
        bundles = s.scalars(select(Bundle).order_by(Bundle.id)).all()
        by_id = {b.id: b for b in bundles}
        records = {r.bundle_id: r for r in s.scalars(select(ProcessDeploy))}
        counts = running_counts(s)
        centres = [c for c in s.scalars(select(Centre).order_by(Centre.code)) if actor.may_see_centre(c.code)]
        groups = [
            {
                "centre": None,
                "name": "Base processes",
                "versions": _history(s, [b for b in bundles if b.centre_code is None], records, counts, by_id),
            }
        ]
        for centre in centres:
            groups.append(
                {
                    "centre": centre.code,
                    "name": centre.name,
                    "versions": _history(
                        s, [b for b in bundles if b.centre_code == centre.code], records, counts, by_id
                    ),
                }
            )
        return {"centres": groups}


def _detail(session: Session, bundle: Bundle) -> dict:
    record = session.scalar(select(ProcessDeploy).where(ProcessDeploy.bundle_id == bundle.id))
    base = session.get(Bundle, record.base_bundle_id) if record is not None and record.base_bundle_id else None
    if record is not None:
        changes = record.changes
    else:
        where = Bundle.centre_code.is_(None) if bundle.centre_code is None else Bundle.centre_code == bundle.centre_code
        before = session.scalar(
            select(Bundle).where(where, Bundle.version < bundle.version).order_by(Bundle.version.desc()).limit(1)
        )
        changes = _changes.get(before, bundle)
    latest = session.scalar(
        select(func.max(Bundle.version)).where(
            Bundle.centre_code.is_(None) if bundle.centre_code is None else Bundle.centre_code == bundle.centre_code
        )
    )
    running = session.scalar(
        select(func.count()).select_from(Instance).where(Instance.bundle_id == bundle.id, Instance.completed.is_(False))
    )
    view = version_view(bundle, record, running or 0, changes, base, current=latest == bundle.version)
    processes: dict[str, dict] = {}
    for name, text in sorted(bundle.files.items()):
        if name.endswith(".bpmn"):
            for pid, info in process_elements(text).items():
                processes[pid] = {
                    "process": pid,
                    "file": name,
                    "skeleton": pid == ROOT_PROCESS_ID,
                    "human_tasks": sorted(
                        e["id"] for e in info["elements"].values() if e["type"] in ("userTask", "manualTask")
                    ),
                }
    view["files"] = sorted(bundle.files)
    view["processes"] = sorted(processes.values(), key=lambda p: (not p["skeleton"], p["file"]))
    return view


def get_version(orc: Orchestrator, actor: Actor, version: int, centre: str | None) -> dict:
    check_may_read(actor, centre)
    with orc.reading() as s:
        return _detail(s, find_bundle(s, version, centre))


def _readable_bundle(session: Session, actor: Actor, bundle_id: int) -> Bundle:
    bundle = session.get(Bundle, bundle_id)
    if bundle is None:
        raise NotFound(f"no process version with id {bundle_id}")
    check_may_read(actor, bundle.centre_code)
    return bundle


def get_bundle(orc: Orchestrator, actor: Actor, bundle_id: int) -> dict:
    """A version by its global id (the owners' pages address versions this way)."""
    check_may_read(actor)
    with orc.reading() as s:
        return _detail(s, _readable_bundle(s, actor, bundle_id))


def _file(bundle: Bundle, name: str) -> dict:
    if name not in bundle.files:
        raise NotFound(f"no file {name} in version {bundle.version}")
    suffix = name[name.rfind(".") :] if "." in name else ""
    return {
        "name": name,
        "text": bundle.files[name],
        "media_type": MEDIA_TYPES.get(suffix, "text/plain"),
        "version": bundle.version,
        "centre": bundle.centre_code,
        "bundle_id": bundle.id,
    }


def bundle_file(orc: Orchestrator, actor: Actor, version: int, centre: str | None, name: str) -> dict:
    check_may_read(actor, centre)
    with orc.reading() as s:
        return _file(find_bundle(s, version, centre), name)


def bundle_file_by_id(orc: Orchestrator, actor: Actor, bundle_id: int, name: str) -> dict:
    check_may_read(actor)
    with orc.reading() as s:
        return _file(_readable_bundle(s, actor, bundle_id), name)


def variant_diff(orc: Orchestrator, actor: Actor, bundle_id: int, base_id: int | None = None) -> dict:
    """Each stage where the version differs from a base version (its own base, or `base_id`), both diagrams."""
    check_may_read(actor)
    with orc.reading() as s:
        bundle = s.get(Bundle, bundle_id)
        if bundle is None:
            raise NotFound(f"no process version with id {bundle_id}")
        check_may_read(actor, bundle.centre_code)
        if base_id is None:
            record = s.scalar(select(ProcessDeploy).where(ProcessDeploy.bundle_id == bundle.id))
            base_id = record.base_bundle_id if record is not None else None
        base = (
            s.get(Bundle, base_id)
            if base_id
            else s.scalar(
                select(Bundle).where(Bundle.centre_code.is_(None), Bundle.id < bundle.id).order_by(Bundle.id.desc())
            )
        )
        if base is None:
            raise NotFound("there is no base version to compare with")
        stages = []
        for stage in bundle_changes(base.files, bundle.files)["stages"]:
            pid = stage["process"]
            base_file = next(
                (n for n, t in base.files.items() if n.endswith(".bpmn") and pid in process_elements(t)), None
            )
            new_file = stage["file"] if stage["status"] != "removed" else None
            stages.append(
                {
                    **stage,
                    "base_file": base_file,
                    "xml": bundle.files.get(new_file) if new_file else None,
                    "base_xml": base.files.get(base_file) if base_file else None,
                }
            )
        return {
            "bundle": {"id": bundle.id, "version": bundle.version, "centre": bundle.centre_code},
            "base": {"id": base.id, "version": base.version, "centre": base.centre_code},
            "stages": stages,
        }
