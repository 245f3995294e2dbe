"""Message templates are bundle files: deployed, versioned and hashed with the processes, so a running RMA keeps the
texts of its version; every message is declared where it is triggered, and a deploy without its template in every
shipped language is refused by file, element and line. The messages before the repair and the SLA mail to managers
come from the same templates, through the same outbox."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import insert, select, update

from engine import Actor
from engine.errors import InvalidProcess
from engine.process.definitions import read_bundle_dir
from engine.services import centres, processes, rmas
from engine.services import requests as request_service
from engine.services.scheduler import fire_due_timers
from engine.store.model import Bundle, OutboxMessage, Rma, User, utcnow
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload

OWNER = Actor("owner", "process_owner")
INTAKE_STAGE = "stages/rma_intake.bpmn"
APPROVAL_STAGE = "stages/rma_approval.bpmn"
PDF = b"%PDF-1.4\n%%EOF\n"
REPLAY_FIXTURE = Path(__file__).resolve().parents[1] / "replay" / "fixtures" / "sg_intake.json"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _mails(orc, rma_id: int) -> list[OutboxMessage]:
    with orc.uow() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.rma_id == rma_id).order_by(OutboxMessage.id)
        ).all()
        uow.session.expunge_all()
        return list(rows)


def _current_base_files(orc) -> dict[str, str]:
    with orc.uow() as uow:
        return dict(processes.latest_bundle(uow.session, None).files)


def _request(orc, language="en", phone="+65 9000 0000") -> dict:
    payload = rma_payload(serial="SN-REQ")
    payload["customer"].update(language=language, phone=phone)
    return request_service.submit_request(orc, payload, "receipt.pdf", PDF, "10.0.0.1")


def _rma_id(orc, number: str) -> int:
    with orc.uow() as uow:
        return uow.session.scalar(select(Rma.id).where(Rma.number == number))


def _ship_in(orc, created: dict) -> None:
    request_service.answer_troubleshooting(orc, created["tracking_token"], {"troubleshoot_solved": False})
    rma_id = _rma_id(orc, created["number"])
    complete_open_task(orc, "sg.reception", rma_id, "review_request", {"review_decision": "ship_in"})


# --- refused at deploy ------------------------------------------------------------------------------------------


def test_a_notify_customer_naming_a_missing_template_is_refused_with_file_element_and_line(sqlite_orc):
    files = read_bundle_dir(PROCESSES_DIR)
    files[INTAKE_STAGE] = files[INTAKE_STAGE].replace('value="intake_receipt"', 'value="intake_receipt_v2"')
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(sqlite_orc, OWNER, files, note="a message without a template")
    [error] = info.value.errors
    assert (error["file"], error["element"]) == (INTAKE_STAGE, "record_condition")
    assert error["line"] == _line_of(files[INTAKE_STAGE], '<bpmn:userTask id="record_condition"')
    assert "notifications/intake_receipt_v2.en.txt" in error["message"]
    assert "notifications/intake_receipt_v2.de.txt" in error["message"]
    assert json.dumps(info.value.errors)  # the API sends them as they are


def test_a_template_missing_only_in_german_is_refused_and_validation_says_so_too(sqlite_orc):
    files = read_bundle_dir(PROCESSES_DIR)
    del files["notifications/quote_ready.de.txt"]
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(sqlite_orc, OWNER, files, note="no German quote")
    [error] = info.value.errors
    assert error["file"] == APPROVAL_STAGE and error["element"] == "compute_quote" and error["line"]
    assert "notifications/quote_ready.de.txt" in error["message"] and "quote_ready.en.txt" not in error["message"]
    checked = processes.validate_bundle(sqlite_orc, OWNER, files, merge=False)
    assert not checked["valid"] and checked["errors"] == info.value.errors


def test_a_template_with_a_jinja_syntax_error_is_refused_naming_the_template_and_its_line(sqlite_orc):
    files = read_bundle_dir(PROCESSES_DIR)
    name = "notifications/unit_shipped.en.txt"
    lines = files[name].split("\n")
    lines[3] = "your unit {{ rma.number | }} is on its way"
    files[name] = "\n".join(lines)
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(sqlite_orc, OWNER, files, note="broken template")
    [error] = info.value.errors
    assert (error["file"], error["line"], error["element"]) == (name, 4, None)
    assert "template syntax error" in error["message"]


def test_the_mail_that_code_sends_to_managers_needs_its_template_too(sqlite_orc):
    files = read_bundle_dir(PROCESSES_DIR)
    del files["notifications/staff_sla_breached.en.txt"]
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(sqlite_orc, OWNER, files, note="no SLA mail")
    [error] = info.value.errors
    assert error["file"] == "notifications/staff_sla_breached.en.txt" and "staff_sla_breached" in error["message"]


def test_templates_are_uploaded_placed_and_reported_like_the_other_bundle_files(sqlite_orc):
    text = read_bundle_dir(PROCESSES_DIR)["notifications/repair_complete.en.txt"].replace("Hello", "Hi")
    done = processes.deploy_upload(sqlite_orc, OWNER, [("repair_complete.en.txt", text.encode())], note="friendlier")
    assert done["created"] and done["changes"]["files"] == [
        {"file": "notifications/repair_complete.en.txt", "status": "changed"}
    ]
    assert _current_base_files(sqlite_orc)["notifications/repair_complete.en.txt"] == text


# --- a running RMA keeps its version's texts -----------------------------------------------------------------------


def test_a_running_rma_keeps_the_texts_of_its_version_and_a_new_one_gets_the_new_texts(orc):
    old = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-OLD"))  # waits on record_condition
    name = "notifications/intake_receipt.en.txt"
    text = _current_base_files(orc)[name]
    assert ": we have received your" in text
    changed = text.replace(": we have received your", ": your unit is with us, the")
    deployed = processes.deploy_bundle(orc, OWNER, {name: changed}, merge=True, note="new receipt subject")
    assert [(r["centre"], r["created"]) for r in deployed["rebased"]] == [("DE", True), ("SG", True)]
    new = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-NEW"))
    assert new["process"]["version"] == old["process"]["version"] + 1
    for rma in (old, new):
        complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    [old_mail] = [m for m in _mails(orc, old["id"]) if m.channel == "email"]
    [new_mail] = [m for m in _mails(orc, new["id"]) if m.channel == "email"]
    assert old_mail.subject == f"{old['number']}: we have received your Vista X100 Camera"
    assert new_mail.subject == f"{new['number']}: your unit is with us, the Vista X100 Camera"


def test_a_template_that_cannot_render_with_the_rmas_data_does_not_stop_the_step_and_says_why_in_the_history(orc):
    """A process owner's template reads a value this RMA does not have (a quote before there is one): the
    reception's step still completes; no mail is queued; the history names the message, the file and the error."""
    from engine.store.model import AuditEvent

    name = "notifications/intake_receipt.en.txt"
    text = _current_base_files(orc)[name]
    broken = text.replace("{% block body %}", "{% block body %}Quote v{{ quote.version }}\n", 1)
    assert broken != text
    processes.deploy_bundle(orc, OWNER, {name: broken}, merge=True, note="reads a quote at intake")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-TPL"))
    done = complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    assert done["rma"]["status"] != "incident"
    assert [m for m in _mails(orc, rma["id"]) if m.subject.startswith(rma["number"] + ": we have received")] == []
    with orc.uow() as uow:
        [event] = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.rma_id == rma["id"], AuditEvent.kind == "message_not_rendered")
        ).all()
        assert event.data["message"] == "intake_receipt"
        assert name in event.data["error"] and "version" in event.data["error"]
        assert "was not sent" in event.detail


# --- the messages before the repair and the staff mail come from the bundle's templates ----------------------------


def test_the_messages_before_the_repair_come_from_the_bundle_templates_by_email_only(orc):
    centres.seed_demo_locations(orc)
    files = _current_base_files(orc)
    edits = {}
    for message in ("request_received", "ship_in", "parcel_reminder", "request_expired"):
        name = f"notifications/{message}.en.txt"
        edits[name] = files[name].replace("{% block subject %}", "{% block subject %}[v2] ")
    processes.deploy_bundle(orc, OWNER, edits, merge=True, note="marked subjects")
    with time_machine.travel(utcnow(), tick=False) as clock:
        start = utcnow()
        created = _request(orc)
        _ship_in(orc, created)
        clock.move_to(start + timedelta(days=10, minutes=1))
        assert fire_due_timers(orc) == 1
        clock.move_to(start + timedelta(days=30, minutes=1))
        assert fire_due_timers(orc) == 1
    number, token = created["number"], created["tracking_token"]
    mails = _mails(orc, _rma_id(orc, number))
    assert [(m.channel, m.subject) for m in mails if m.channel != "webhook"] == [
        ("email", f"[v2] Your repair request {number}"),
        ("email", f"[v2] Please send your unit: {number}"),
        ("email", f"[v2] We are still waiting for your unit: {number}"),
        ("email", f"[v2] Your request {number} has expired"),
    ]  # the customer gave a phone: these messages are email only, as before
    base = orc.settings.base_url
    assert mails[0].body == (
        f"Thank you: we registered your repair request {number} for your Vista X100 Camera. Before you send "
        f"anything, please try the steps for your model on your request page; many faults are fixed that way:\n"
        f"{base}/request/{token}"
    )
    assert mails[1].body == (
        "We could not solve the fault remotely. Please pack your Vista X100 Camera with the packing slip, which "
        f"carries the RMA number as a barcode, and send it to SG:\n{base}/request/{token}/packing-slip"
    )
    assert mails[2].body == (
        f"We have not received your Vista X100 Camera yet. Please send it with the packing slip:\n"
        f"{base}/request/{token}/packing-slip\n"
        "Without a parcel the request closes 30 days after the shipment was authorised."
    )
    assert mails[3].body == (
        f"We did not receive your Vista X100 Camera within 30 days, so request {number} is closed. You are welcome "
        "to send a new request any time."
    )


def test_a_german_request_is_confirmed_in_german(sqlite_orc):
    centres.seed_demo_locations(sqlite_orc)
    created = _request(sqlite_orc, language="de")
    [mail] = _mails(sqlite_orc, _rma_id(sqlite_orc, created["number"]))
    assert mail.subject == f"Ihre Reparaturanfrage {created['number']}"
    assert mail.body.startswith(f"Danke: Ihre Reparaturanfrage {created['number']} für Vista X100 Camera")


def test_the_sla_mail_to_managers_comes_from_the_bundle_template(orc):
    with orc.uow() as uow:  # (set directly: the service that sets it is not what this test is about)
        uow.session.execute(update(User).where(User.username == "manager").values(email="service-managers@example.com"))
        uow.commit()
    name = "notifications/staff_sla_breached.en.txt"
    text = _current_base_files(orc)[name]
    processes.deploy_bundle(
        orc, OWNER, {name: text.replace("SLA breached:", "Overdue:")}, merge=True, note="mail wording"
    )
    with time_machine.travel(utcnow(), tick=False) as clock:
        start = utcnow()
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
        complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
        clock.move_to(start + timedelta(days=2, minutes=1))
        assert fire_due_timers(orc) == 1
    [mail] = [m for m in _mails(orc, rma["id"]) if m.recipient == "service-managers@example.com"]
    assert mail.subject == f"[{rma['number']}] Overdue: Diagnose fault"
    assert mail.body.startswith(f"{rma['number']} (Vista X100 Camera, centre SG): Diagnose fault is overdue since ")
    assert mail.body.endswith("/tasks/" + mail.idempotency_key.split(":")[1])


# --- bundles deployed before templates were bundle files ----------------------------------------------------------


def test_rmas_on_a_bundle_from_before_templates_were_bundled_still_get_every_message(sqlite_orc):
    """Such a bundle (here the one a replay fixture stored) has no templates and declares none of the messages
    before the repair: its RMAs render with the processes folder's templates, and the code triggers of before send
    those messages with the keys they had."""
    orc = sqlite_orc
    centres.seed_demo_locations(orc)
    stored = json.loads(REPLAY_FIXTURE.read_text())["bundle"]
    assert stored["centre"] == "SG" and not any(name.startswith("notifications/") for name in stored["files"])
    with orc.uow() as uow:
        uow.session.execute(
            insert(Bundle).values(
                version=99, centre_code="SG", hash=stored["hash"], files=stored["files"], note="", deployed_by="old"
            )
        )
        uow.commit()
    created = _request(orc)
    rma_id = _rma_id(orc, created["number"])
    _ship_in(orc, created)
    counter = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="SN-COUNTER"))
    assert counter["process"]["version"] == 99
    complete_open_task(orc, "sg.reception", counter["id"], "record_condition", INTAKE)
    number = created["number"]
    assert [(m.idempotency_key, m.subject) for m in _mails(orc, rma_id) if m.channel == "email"] == [
        (f"{number}:request_received", f"Your repair request {number}"),
        (f"{number}:ship_in:1", f"Please send your unit: {number}"),
    ]
    receipt = [m for m in _mails(orc, counter["id"]) if m.channel == "email"]
    assert [m.subject for m in receipt] == [f"{counter['number']}: we have received your Vista X100 Camera"]
