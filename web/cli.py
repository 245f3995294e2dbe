"""The `rma` command: init, demo, serve, worker, deploy, users."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from engine.actors import Actor
from engine.config import Settings, resolve_secret_key, served_url
from engine.errors import EngineError, InvalidProcess
from engine.process.definitions import read_bundle_dir


def _orchestrator():
    from engine.orchestrator import Orchestrator

    return Orchestrator(Settings.from_env())


def init_database(orc) -> list[dict]:
    """Create or upgrade the schema and deploy the shipped processes (idempotent)."""
    from engine.services.processes import deploy_directory
    from engine.services.users import list_centres

    orc.migrate()
    return deploy_directory(orc, Actor.system(), [c["code"] for c in list_centres(orc)])


@click.group()
def main():
    """RMA orchestrator: repairs run as BPMN."""


@main.command()
def init():
    """Create the schema and deploy processes/ (safe to run again)."""
    orc = _orchestrator()
    for b in init_database(orc):
        click.echo(
            f"bundle {b['centre'] or 'base'} v{b['version']} {b['hash'][:12]} "
            f"({'deployed' if b['created'] else 'unchanged'})"
        )


@main.command()
def demo():
    """init, then demo centres, users (password 'demo') and RMAs."""
    from engine import demo as demo_data

    orc = _orchestrator()
    orc.migrate()
    demo_data.create_centres_and_users(orc)
    init_database(orc)
    demo_data.create_catalogue_and_locations(orc)
    created = demo_data.create_demo_rmas(orc)
    click.echo(
        f"demo ready: {created} new RMAs; users {', '.join(u for u, _, _ in demo_data.USERS)} "
        f"with password '{demo_data.DEMO_PASSWORD}' (demo only)"
    )


@main.command()
@click.option("--host", default=None, help="address to listen on  [default: RMA_HOST, else 127.0.0.1]")
@click.option("--port", default=None, type=int, help="port to listen on  [default: RMA_PORT, else 5000]")
def serve(host, port):
    """Serve the web app in one process (threads, keep-alive); production: gunicorn -w N 'web:create_app()'."""
    from web.serving import serve as serve_app

    settings = Settings.from_env()
    try:
        resolve_secret_key(settings)  # refuse to start here, with the reason, rather than in each worker
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    settings = served_settings(settings, host or settings.host, port or settings.port)
    click.echo(f"RMA orchestrator on {served_url(settings.host, settings.port)}/ (database: {settings.database_url})")
    for warning in start_warnings(settings):
        click.echo(f"warning: {warning}", err=True)
    serve_app(settings.host, settings.port, run_worker=settings.run_worker, settings=settings)


WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def served_settings(settings: Settings, host: str, port: int) -> Settings:
    """The settings of a server on host:port: without RMA_BASE_URL, customer links use the served address."""
    if settings.base_url_set:
        return replace(settings, host=host, port=port)
    return replace(settings, host=host, port=port, base_url=served_url(host, port))


def start_warnings(settings: Settings) -> list[str]:
    """What `rma serve` says at start about links and messages customers would not get."""
    warnings = []
    if not settings.base_url_set:
        if settings.host in WILDCARD_HOSTS:
            warnings.append(
                f"RMA_BASE_URL is not set and the server listens on every interface: links sent to customers "
                f"point to {settings.base_url}, which they cannot open; set RMA_BASE_URL to the address they reach"
            )
        elif settings.host not in {"127.0.0.1", "localhost", "::1"} or settings.port != 5000:
            warnings.append(
                f"RMA_BASE_URL is not set: links sent to customers point to this server, {settings.base_url}; "
                "set RMA_BASE_URL if they reach it by another address (and give every `rma worker` the same)"
            )
    if not settings.smtp_url:
        warnings.append(
            "RMA_SMTP_URL is not set: email is not configured, so no email reaches customers "
            "(messages stay in the outbox marked 'not sent: email is not configured')"
        )
    if not settings.sms_webhook_url:
        warnings.append("RMA_SMS_WEBHOOK_URL is not set: text messages are not configured and not sent")
    return warnings


@main.command()
@click.option("--interval", default=2.0, show_default=True, help="seconds between sweeps")
@click.option("--once", is_flag=True, help="one sweep, then exit")
def worker(interval, once):
    """Fire due timers and send notifications; run as many as you like on PostgreSQL."""
    import logging
    import signal
    import threading

    from engine.worker import log, run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # SpiffWorkflow logs every task state change at INFO: thousands of lines per sweep, no news.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    orc = _orchestrator()
    if once:
        click.echo(run_once(orc))
        return
    stop = threading.Event()
    # SIGTERM (systemd, Docker, Kubernetes) and SIGINT stop it after the sweep under way, even when the
    # process was started with SIGINT ignored (a background job of a non-interactive shell)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run_forever(orc, stop, interval)
    log.info("worker stopped")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--centre", default=None, help="deploy as this centre's variant")
@click.option("--note", default="", help="what changed")
def deploy(paths, centre, note):
    """Validate and deploy process files as a new version, as the processes page's upload does.

    Files are laid over the current version (the centre's latest variant, else the base): a BPMN file replaces
    the file defining the same process, a DMN file the same decisions, forms and templates by name. A folder
    (processes/, with its variants/CENTRE/ for --centre) is the whole bundle; files given with it are laid over it.
    """
    from engine.services.processes import deploy_upload

    uploads, whole = cli_uploads(paths, centre)
    try:
        b = deploy_upload(_orchestrator(), Actor("cli", "process_owner"), uploads, centre, note, replace=whole)
    except InvalidProcess as exc:
        for e in exc.errors or [{"file": "-", "message": exc.message}]:
            click.echo(f"{e['file']}:{e.get('line') or '?'}: {e.get('element') or '-'}: {e['message']}", err=True)
        sys.exit(1)
    except EngineError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"bundle {b['centre'] or 'base'} v{b['version']} {b['hash'][:12]} "
        f"({'deployed' if b['created'] else 'unchanged'})"
    )


def cli_uploads(paths, centre: str | None) -> tuple[list[tuple[str, str]], bool]:
    """(uploads, whole bundle?) for `rma deploy PATHS`: a folder gives every file of its bundle under its bundle
    name (the whole bundle); files go by their names as uploaded files do (engine.process.bundle_files)."""
    folders = [path for path in paths if path.is_dir()]
    if folders and len(folders) < len(paths):
        raise click.UsageError("give one folder (the whole bundle) or files (laid over the current version), not both")
    if len(folders) > 1:
        raise click.UsageError("give one folder: it is the whole bundle")
    if folders:
        return list(read_bundle_dir(folders[0], centre).items()), True
    return [(path.as_posix(), path.read_text(encoding="utf-8")) for path in paths], False


@main.group()
def users():
    """Manage staff accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--centre", default=None)
@click.option("--password", required=True)
@click.option("--email", default=None, help="where SLA escalation mails reach a manager (kept when not given)")
def users_add(username, role, centre, password, email):
    """Create USERNAME, or reset its role, centre and password."""
    from engine.services.users import add_user

    try:
        add_user(_orchestrator(), username, role, centre, password, email=email)
    except EngineError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"user {username} ({role}{' @ ' + centre if centre else ''}{' <' + email + '>' if email else ''}) saved")


@users.command("set-email")
@click.argument("username")
@click.argument("email")
def users_set_email(username, email):
    """Set the e-mail address of USERNAME (SLA escalations go to managers' addresses); "" removes it."""
    from engine.services.users import set_staff_email

    try:
        saved = set_staff_email(_orchestrator(), Actor.system(), username, email)
    except EngineError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"e-mail of {username} {'set to ' + saved['email'] if saved['email'] else 'removed'}")


@users.command("disable")
@click.argument("username")
def users_disable(username):
    """Disable USERNAME: its logins are refused, every API token is revoked for good, every session ends."""
    from engine.services.users import disable_user

    try:
        done = disable_user(_orchestrator(), Actor.system(), username)
    except EngineError as exc:
        raise click.ClickException(exc.message)
    state = "disabled" if done["changed"] else "was disabled already"
    click.echo(f"user {username} {state}; {done['tokens_revoked']} API token(s) revoked")


@users.command("enable")
@click.argument("username")
def users_enable(username):
    """Let a disabled USERNAME log in again (API tokens revoked by the disable stay revoked)."""
    from engine.services.users import enable_user

    try:
        done = enable_user(_orchestrator(), Actor.system(), username)
    except EngineError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"user {username} {'enabled' if done['changed'] else 'was enabled already'}")


@main.group("audit")
def audit_group():
    """Check the tamper-evident audit trail."""


@audit_group.command("verify")
@click.option("--rma", "number", default=None, help="check only this RMA (its number, e.g. RMA-SG-000001)")
def audit_verify(number):
    """Recompute the audit hash chains; print every break and exit 1 if there is any."""
    from engine.services.operations import verify_audit_trail

    try:
        breaks, numbers, events = verify_audit_trail(_orchestrator(), number)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    for b in breaks:
        click.echo(
            f"{numbers.get(b['rma_id'], '(no RMA)')}: event {b['event_id']} ({b['kind']}): {b['problem']}", err=True
        )
    if breaks:
        click.echo(f"audit trail BROKEN: {len(breaks)} break(s) in {events} event(s)", err=True)
        sys.exit(1)
    click.echo(f"audit trail intact: {events} event(s) verified")


@main.group("loans")
def loans_group():
    """Loan units lent to customers while their unit is in repair."""


@loans_group.command("add")
@click.argument("centre")
@click.argument("code")
@click.option("--model", required=True, help="what the unit is, e.g. 'Vista X100 Camera'")
@click.option("--serial", "serial_number", default="", help="the loan unit's own serial number")
def loans_add(centre, code, model, serial_number):
    """Add a unit to CENTRE's loan pool under asset CODE."""
    from engine.services.loans import add_unit

    try:
        add_unit(_orchestrator(), Actor("cli", "manager"), centre, code, model, serial_number)
    except EngineError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"loan unit {code} ({model}) added to {centre}")


@loans_group.command("list")
@click.argument("centre")
def loans_list(centre):
    """CENTRE's loan pool and which units are out."""
    from engine.services.loans import pool

    for unit in pool(_orchestrator(), Actor("cli", "manager"), centre):
        state = f"lent to RMA {unit['lent_to_rma_id']}" if unit["lent_to_rma_id"] else "available"
        click.echo(f"{unit['code']}\t{unit['model']}\t{state}")


if __name__ == "__main__":
    main()


@main.group("centres")
def centres_group():
    """What customers are told about a centre."""


@centres_group.command("set")
@click.argument("code")
@click.option("--prices-include-tax/--prices-exclude-tax", default=None, help="whether its quotes' prices include tax")
@click.option("--email", default=None, help="the e-mail customers write to ('' removes it)")
@click.option("--phone", default=None, help="the phone number customers call")
def centres_set(code, prices_include_tax, email, phone):
    """Set CODE's tax display and contact details, shown on every customer page."""
    from engine.services.centres import set_customer_facing

    try:
        result = set_customer_facing(_orchestrator(), code, prices_include_tax, email, phone)
    except EngineError as exc:
        raise click.ClickException(exc.message) from None
    tax = "include" if result["prices_include_tax"] else "exclude"
    click.echo(f"{code}: prices {tax} tax; e-mail {result['email'] or '-'}; phone {result['phone'] or '-'}")


@main.group("partners")
def partners_group():
    """Partner organisations (installers, dealers, distributors) and their accounts."""


@partners_group.command("create")
@click.argument("name")
@click.option("--type", "org_type", required=True, type=click.Choice(["installer", "dealer", "distributor"]))
@click.option("--centre", required=True, help="the centre that serves it")
@click.option("--email", "contact_email", required=True, help="the contact e-mail its units' messages go to")
@click.option("--contact", "contact_name", default="", help="the contact person")
@click.option("--phone", "contact_phone", default=None)
@click.option("--language", default="en", type=click.Choice(["en", "de"]))
def partners_create(name, org_type, centre, contact_email, contact_name, contact_phone, language):
    """Create the organisation NAME served by a centre."""
    from engine.services.partners import create_organisation

    payload = {
        "name": name,
        "type": org_type,
        "centre": centre,
        "contact_email": contact_email,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "language": language,
    }
    try:
        org = create_organisation(_orchestrator(), Actor("cli", "manager"), payload)
    except EngineError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items()) if exc.errors else ""
        raise click.ClickException(f"{exc.message}{' (' + detail + ')' if detail else ''}") from None
    click.echo(f"organisation {org['id']} {org['name']} ({org['type']} @ {org['centre']}) created")


@partners_group.command("add-user")
@click.argument("organisation", type=int)
@click.argument("username")
@click.option("--password", required=True)
@click.option("--name", "full_name", default="")
@click.option("--email", default=None)
def partners_add_user(organisation, username, password, full_name, email):
    """Add USERNAME (role partner) to the organisation with id ORGANISATION."""
    from engine.services.partners import add_partner_user

    try:
        add_partner_user(_orchestrator(), Actor("cli", "manager"), organisation, username, password, full_name, email)
    except EngineError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items()) if exc.errors else ""
        raise click.ClickException(f"{exc.message}{' (' + detail + ')' if detail else ''}") from None
    click.echo(f"partner account {username} added to organisation {organisation}")


@partners_group.command("list")
def partners_list():
    """Every organisation: id, name, type, centre, contact e-mail."""
    from engine.services.partners import list_organisations

    for org in list_organisations(_orchestrator(), Actor("cli", "manager")):
        click.echo(f"{org['id']}\t{org['name']}\t{org['type']}\t{org['centre']}\t{org['contact_email']}")


@main.group("register")
def register_group():
    """The register of units sold: what the warranty counts from when there is no better date (issue 17)."""


@register_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def register_import(file):
    """Import FILE, a CSV of units sold (serial_number, model, ship_date[, organisation, installation_date]):
    all rows or none; every problem is printed as line, column and message."""
    from engine.services.register import import_csv

    try:
        with open(file, "rb") as handle:
            result = import_csv(_orchestrator(), Actor("cli", "manager"), handle.read(2 * 1024 * 1024 + 1))
    except EngineError as exc:
        for problem in exc.errors if isinstance(exc.errors, list) else []:
            click.echo(f"line {problem['line']}, {problem['column'] or '-'}: {problem['message']}", err=True)
        raise click.ClickException(exc.message) from None
    click.echo(f"{result['imported']} unit(s) registered ({result['created']} new, {result['updated']} updated)")
