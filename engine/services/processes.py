"""Validate and deploy process bundles (whole, partial or uploaded), audited; find the bundle an RMA starts on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.actors import Actor
from engine.adapters.address_policy import OutboundPolicy
from engine.customer import slips
from engine.customer.customer_text import LANGUAGES
from engine.errors import ConcurrentUpdate, InvalidInput, InvalidProcess, NotAllowed, NotFound
from engine.process import bundle_files
from engine.process.definitions import ParsedBundle, parse_bundle, read_bundle_dir
from engine.process.diffing import bundle_changes
from engine.process.policy import PolicyError, changed_authorities, check_policy, load_policy
from engine.process.rebase import three_way
from engine.services import escalations
from engine.store.audit import audit
from engine.store.model import Bundle, Centre, ProcessDeploy

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

POLICY_FILE = bundle_files.POLICY_FILE
DEPLOY_ROLES = ("process_owner", "system")
# Messages that code sends (not declared by a BPMN element), with the languages their templates need:
# each sending module declares its own table.
CODE_MESSAGES: dict[str, tuple[str, ...]] = {**escalations.MESSAGES, **slips.MESSAGES}


def check_may_deploy(actor: Actor, centre: str | None) -> None:
    """Process owners deploy; one scoped to a centre deploys only that centre's variant (403 otherwise)."""
    if actor.role not in DEPLOY_ROLES:
        raise NotAllowed("only process owners may deploy processes")
    if actor.role == "process_owner" and actor.centre is not None and actor.centre != centre:
        raise NotAllowed(f"you may deploy only the variant of centre {actor.centre}")


def latest_bundle(session: Session, centre: str | None) -> Bundle | None:
    """The newest version of the base (centre None) or of one centre's variant."""
    where = Bundle.centre_code.is_(None) if centre is None else Bundle.centre_code == centre
    return session.scalars(select(Bundle).where(where).order_by(Bundle.version.desc()).limit(1)).first()


def current_bundle(session: Session, centre: str | None) -> Bundle | None:
    """The bundle new RMAs of `centre` start on: its latest variant, else the latest base (centre None: the base)."""
    return latest_bundle(session, centre) or latest_bundle(session, None)


def _prepare(
    session: Session, files: dict[str, str], centre: str | None, merge: bool, outbound: OutboundPolicy
) -> tuple[ParsedBundle, Bundle | None, Bundle | None]:
    """(parsed bundle, the centre's previous version, the latest base); InvalidProcess lists every error.

    A service task's literal URL must pass the outbound address policy (`outbound`, from the settings)."""
    if centre is not None and session.get(Centre, centre) is None:
        raise InvalidInput(f"unknown centre {centre}", {"centre": [f"Unknown centre '{centre}'."]})
    previous = latest_bundle(session, centre)
    base = latest_bundle(session, None) if centre is not None else None
    if merge:
        start = previous or base
        files = bundle_files.merge(start.files if start is not None else {}, files)
    if centre is not None:
        files = _with_company_policy(base, files)
    # every message needs its template in each shipped language (customer_text.LANGUAGES)
    parsed = parse_bundle(
        files, message_languages=LANGUAGES, code_messages=CODE_MESSAGES, url_check=outbound.url_refusal, deploy=True
    )
    _enforce_policy(parsed.files, base.files if centre is not None and base is not None else None)
    return parsed, previous, base


def validate_bundle(
    orc: Orchestrator, actor: Actor, files: dict[str, str], centre: str | None = None, merge: bool = True
) -> dict:
    """Everything a deploy checks, nothing stored: {valid, errors, hash?, changes?}."""
    check_may_deploy(actor, centre)
    with orc.uow() as uow:
        try:
            parsed, previous, base = _prepare(
                uow.session, files, centre, merge, OutboundPolicy.from_settings(orc.settings)
            )
        except InvalidProcess as exc:
            return {"valid": False, "message": exc.message, "errors": exc.errors or []}
        against = previous or base
        return {
            "valid": True,
            "message": "the processes are valid",
            "errors": [],
            "warnings": parsed.warnings,
            "hash": parsed.hash,
            "changes": bundle_changes(against.files if against is not None else None, parsed.files),
        }


def deploy_bundle(
    orc: Orchestrator,
    actor: Actor,
    files: dict[str, str],
    centre: str | None = None,
    note: str = "",
    merge: bool = False,
    uploaded: list[str] | None = None,
    rebase: bool = True,
    rebase_except: tuple[str, ...] = (),
) -> dict:
    """Validate, hash and store a new immutable version (audited); an unchanged bundle is not stored twice.

    With `merge`, `files` are laid over the centre's current bundle (its latest variant, else the base).
    A new base version moves every centre's variant onto it (`rebase`; see rebase_variants).
    """
    view = _deploy(orc, actor, files, centre, note, merge, uploaded)
    if centre is None and view["created"] and rebase:
        view["rebased"] = rebase_variants(orc, actor, skip=rebase_except)
    return view


def _deploy(
    orc: Orchestrator,
    actor: Actor,
    files: dict[str, str],
    centre: str | None,
    note: str,
    merge: bool,
    uploaded: list[str] | None,
) -> dict:
    check_may_deploy(actor, centre)
    with orc.uow() as uow:
        s = uow.session
        parsed, previous, base = _prepare(s, files, centre, merge, OutboundPolicy.from_settings(orc.settings))
        if previous is not None and previous.hash == parsed.hash:
            return _bundle_view(previous, created=False, warnings=parsed.warnings)
        bundle = Bundle(
            version=(previous.version if previous else 0) + 1,
            centre_code=centre,
            hash=parsed.hash,
            files=parsed.files,
            note=note,
            deployed_by=actor.username,
        )
        s.add(bundle)
        uow.flush()
        against = previous or base
        changes = bundle_changes(against.files if against is not None else None, parsed.files)
        s.add(
            ProcessDeploy(
                bundle_id=bundle.id,
                base_bundle_id=base.id if base is not None else None,
                previous_bundle_id=against.id if against is not None else None,
                uploaded=sorted(uploaded if uploaded is not None else parsed.files),
                changes=changes,
            )
        )
        label = f"centre {centre} variant" if centre else "base processes"
        audit(
            s,
            None,
            actor,
            "process_deployed",
            f"{label} v{bundle.version} deployed: {changes['summary']}",
            data={
                "bundle_id": bundle.id,
                "centre": centre,
                "version": bundle.version,
                "hash": parsed.hash,
                "note": note,
                "uploaded": sorted(uploaded or []),
                "changes": changes["summary"],
            },
        )
        try:
            uow.commit()
        except IntegrityError:
            raise ConcurrentUpdate(
                "someone deployed this centre's processes at the same moment; reload and try again"
            ) from None
        orc.specs.get(parsed.hash, lambda: parsed.files)
        return _bundle_view(bundle, created=True, changes=changes, warnings=parsed.warnings)


def deploy_upload(
    orc: Orchestrator,
    actor: Actor,
    uploads: list[tuple[str, bytes | str]],
    centre: str | None = None,
    note: str = "",
    replace: bool = False,
    dry_run: bool = False,
) -> dict:
    """Deploy uploaded files: merged over the centre's current bundle, or (`replace`) as the whole bundle."""
    check_may_deploy(actor, centre)
    placed, errors = bundle_files.place_uploads(uploads)
    if errors:
        raise InvalidProcess(f"{len(errors)} uploaded file(s) cannot be used", errors)
    if dry_run:
        return validate_bundle(orc, actor, placed, centre, merge=not replace)
    return deploy_bundle(orc, actor, placed, centre, note, merge=not replace, uploaded=sorted(placed))


def rebase_variants(orc: Orchestrator, actor: Actor, skip: tuple[str, ...] = ()) -> list[dict]:
    """Move each centre's variant onto the latest base (engine.process.rebase); conflicts and errors leave it be."""
    with orc.uow() as uow:
        s = uow.session
        base = latest_bundle(s, None)
        if base is None:
            raise NotFound("there is no base version to move the variants onto")
        jobs = []
        variants = s.scalars(select(Bundle.centre_code).where(Bundle.centre_code.is_not(None)).distinct())
        for centre in sorted(c for c in variants if c is not None):
            variant = latest_bundle(s, centre)
            if centre in skip or variant is None:
                continue
            record = s.scalar(select(ProcessDeploy).where(ProcessDeploy.bundle_id == variant.id))
            old_base = (
                s.get(Bundle, record.base_bundle_id)
                if record is not None and record.base_bundle_id
                else (
                    s.scalar(
                        select(Bundle)
                        .where(Bundle.centre_code.is_(None), Bundle.id < variant.id)
                        .order_by(Bundle.id.desc())
                        .limit(1)
                    )
                )
            )
            if old_base is not None and old_base.id != base.id:
                jobs.append((centre, dict(old_base.files), dict(variant.files)))
        new_files, version = dict(base.files), base.version
    results = []
    for centre, old_files, variant_files in jobs:
        merged, conflicts = three_way(old_files, new_files, variant_files)
        result: dict[str, Any] = {
            "centre": centre,
            "version": None,
            "created": False,
            "errors": [],
            "conflicts": conflicts,
        }
        if not conflicts:
            try:
                done = _deploy(orc, actor, merged, centre, f"moved onto base v{version}", False, [])
                result.update(version=done["version"], created=done["created"])
            except InvalidProcess as exc:
                result["errors"] = exc.errors or [{"file": None, "element": None, "line": None, "message": exc.message}]
        results.append(result)
    return results


def _with_company_policy(base: Bundle | None, files: dict[str, str]) -> dict[str, str]:
    """A centre's variant is checked against the company policy of the latest base, never its own."""
    files = {k: v for k, v in files.items() if k != POLICY_FILE}
    if base is not None and POLICY_FILE in base.files:
        files[POLICY_FILE] = base.files[POLICY_FILE]
    return files


def _enforce_policy(files: dict[str, str], base_files: dict[str, str] | None = None) -> None:
    """The company policy; a centre's variant (`base_files`: the base it is laid over) also keeps the base's
    authoritative decision tables (engine.process.policy.changed_authorities)."""
    policy = load_policy(files, POLICY_FILE)
    if not policy:
        return
    try:
        violations = check_policy(files, policy)
        if base_files is not None:
            violations += changed_authorities(files, base_files, policy)
    except PolicyError as exc:
        raise InvalidProcess(
            str(exc), [{"file": POLICY_FILE, "element": None, "line": None, "message": str(exc)}]
        ) from None
    if violations:
        errors = []
        for v in violations:
            last = v["path"][-1] if v["path"] else {}
            steps = " → ".join(f"{p['element']} ({p['name']})" for p in v["path"])
            where = "Offending path" if len(v["path"]) > 1 else "Offending element"
            file = last.get("file", POLICY_FILE)
            errors.append(
                {
                    "file": file,
                    "element": last.get("element"),
                    "line": v.get("line") or _line(files, file, last.get("element")),
                    "rule": v["rule"],
                    "path": v["path"],
                    "message": f"policy '{v['rule']}' broken: {v['message']}. {where}: {steps}",
                }
            )
        raise InvalidProcess(f"the processes break {len(violations)} company policy rule(s)", errors)


def _line(files: dict[str, str], file: str, element: str | None) -> int | None:
    if not element or not file.endswith(".bpmn") or file not in files:
        return None
    root = etree.fromstring(files[file].encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    return next((el.sourceline for el in root.iter() if isinstance(el.tag, str) and el.get("id") == element), None)


def deploy_directory(orc: Orchestrator, actor: Actor, centres: Sequence[str] = ()) -> list[dict]:
    """Deploy the base bundle and each centre's variant found in the processes folder."""
    root = orc.settings.processes_dir
    on_disk = tuple(c for c in centres if (root / "variants" / c).is_dir())
    results = [
        deploy_bundle(orc, actor, read_bundle_dir(root), None, "deployed from processes/", rebase_except=on_disk)
    ]
    for centre in centres:
        if (root / "variants" / centre).is_dir():
            results.append(
                deploy_bundle(
                    orc, actor, read_bundle_dir(root, centre), centre, f"variant for {centre} deployed from processes/"
                )
            )
    return results


def _bundle_view(bundle: Bundle, created: bool, changes: dict | None = None, warnings: list | None = None) -> dict:
    return {
        "warnings": list(warnings or []),  # accepted, but worth saying: a process nothing calls (issue 15.9)
        "id": bundle.id,
        "version": bundle.version,
        "centre": bundle.centre_code,
        "hash": bundle.hash,
        "created": created,
        "note": bundle.note,
        "deployed_by": bundle.deployed_by,
        "deployed_at": bundle.deployed_at,
        "changes": changes,
    }
