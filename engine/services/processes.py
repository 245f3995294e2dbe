"""Deploy process bundles and look them up."""
from __future__ import annotations

from sqlalchemy import func, select

from ..actors import Actor
from ..definitions import parse_bundle, read_bundle_dir
from ..errors import NotAllowed
from ..model import Bundle


def deploy_bundle(orc, actor: Actor, files: dict[str, str], centre: str | None = None, note: str = "") -> dict:
    """Validate, hash and store a new immutable version; an unchanged bundle is not stored twice."""
    if actor.role not in ("process_owner", "system"):
        raise NotAllowed("only process owners may deploy processes")
    if actor.role == "process_owner" and actor.centre is not None and actor.centre != centre:
        raise NotAllowed(f"you may deploy only the variant of centre {actor.centre}")
    parsed = parse_bundle(files)
    with orc.uow() as uow:
        s = uow.session
        latest = s.scalars(select(Bundle).where(Bundle.centre_code.is_(centre) if centre is None
                                                else Bundle.centre_code == centre)
                           .order_by(Bundle.version.desc()).limit(1)).first()
        if latest is not None and latest.hash == parsed.hash:
            return _bundle_view(latest, created=False)
        version = (s.scalar(select(func.max(Bundle.version)).where(
            Bundle.centre_code.is_(None) if centre is None else Bundle.centre_code == centre)) or 0) + 1
        bundle = Bundle(version=version, centre_code=centre, hash=parsed.hash, files=parsed.files,
                        note=note, deployed_by=actor.username)
        s.add(bundle)
        uow.commit()
        orc.specs.get(parsed.hash, lambda: parsed.files)
        return _bundle_view(bundle, created=True)


def deploy_directory(orc, actor: Actor, centres: list[str] = ()) -> list[dict]:
    """Deploy the base bundle and each centre's variant found in the processes folder."""
    root = orc.settings.processes_dir
    results = [deploy_bundle(orc, actor, read_bundle_dir(root), None, "deployed from processes/")]
    for centre in centres:
        if (root / "variants" / centre).is_dir():
            results.append(deploy_bundle(orc, actor, read_bundle_dir(root, centre), centre,
                                         f"variant for {centre} deployed from processes/"))
    return results


def current_bundle(session, centre: str) -> Bundle | None:
    """The bundle new RMAs of `centre` start on: its latest variant, else the latest base."""
    for condition in (Bundle.centre_code == centre, Bundle.centre_code.is_(None)):
        bundle = session.scalars(select(Bundle).where(condition).order_by(Bundle.version.desc()).limit(1)).first()
        if bundle is not None:
            return bundle
    return None


def _bundle_view(bundle: Bundle, created: bool) -> dict:
    return {"id": bundle.id, "version": bundle.version, "centre": bundle.centre_code, "hash": bundle.hash,
            "created": created, "note": bundle.note, "deployed_by": bundle.deployed_by,
            "deployed_at": bundle.deployed_at}
