"""Deploy process bundles and look them up."""
from __future__ import annotations

from sqlalchemy import func, select

from ..actors import Actor
from ..definitions import parse_bundle, read_bundle_dir
from ..errors import InvalidProcess, NotAllowed
from ..model import Bundle
from ..policy import PolicyError, check_policy, load_policy

POLICY_FILE = "policy.json"


def deploy_bundle(orc, actor: Actor, files: dict[str, str], centre: str | None = None, note: str = "") -> dict:
    """Validate, hash and store a new immutable version; an unchanged bundle is not stored twice."""
    if actor.role not in ("process_owner", "system"):
        raise NotAllowed("only process owners may deploy processes")
    if actor.role == "process_owner" and actor.centre is not None and actor.centre != centre:
        raise NotAllowed(f"you may deploy only the variant of centre {actor.centre}")
    with orc.uow() as uow:
        s = uow.session
        if centre is not None:
            files = _with_company_policy(s, files)
        parsed = parse_bundle(files)
        _enforce_policy(parsed.files)
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


def _with_company_policy(session, files: dict[str, str]) -> dict[str, str]:
    """A centre's variant is checked against the company policy of the latest base, never its own."""
    base = session.scalars(select(Bundle).where(Bundle.centre_code.is_(None))
                           .order_by(Bundle.version.desc()).limit(1)).first()
    files = {k: v for k, v in files.items() if k != POLICY_FILE}
    if base is not None and POLICY_FILE in base.files:
        files[POLICY_FILE] = base.files[POLICY_FILE]
    return files


def _enforce_policy(files: dict[str, str]) -> None:
    policy = load_policy(files, POLICY_FILE)
    if not policy:
        return
    try:
        violations = check_policy(files, policy)
    except PolicyError as exc:
        raise InvalidProcess(str(exc), [{"file": POLICY_FILE, "element": None, "line": None,
                                         "message": str(exc)}]) from None
    if violations:
        errors = []
        for v in violations:
            last = v["path"][-1] if v["path"] else {}
            steps = " → ".join(f"{p['element']} ({p['name']})" for p in v["path"])
            errors.append({"file": last.get("file", POLICY_FILE), "element": last.get("element"), "line": None,
                           "rule": v["rule"], "path": v["path"],
                           "message": f"policy '{v['rule']}' broken: {v['message']}. Offending path: {steps}"})
        raise InvalidProcess(f"the processes break {len(violations)} company policy rule(s)", errors)


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
