"""Issue 20, point 15: every command that changes an RMA takes the instance's row lock and reads the RMA again
under it (`engine.services.instances.lock_instance`), or changes its row with a guarded UPDATE, so the same
command sent many times at once is done exactly once: one success, the rest 409 (or, for a command that is
idempotent by design, the same answer without a second record), one audit event, one webhook.

On PostgreSQL only: these races are about its row locks and READ COMMITTED re-reads (SQLite has one writer).
The first test goes through real HTTP on gunicorn with four workers and a real webhook receiver; the others
race the services, one thread and one connection each (tests.helpers.race).
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter

import pytest
from sqlalchemy import func, select

from engine import Actor
from engine.adapters.senders import senders_from_settings
from engine.errors import EngineError
from engine.process.definitions import read_bundle_dir
from engine.services import (
    catalogue,
    centres,
    goodwill,
    integrations,
    loans,
    migration,
    operations,
    parcels,
    photos,
    portal,
    process_messages,
    processes,
    requests,
    rmas,
    tasks,
    users,
)
from engine.store.model import AuditEvent, Loan, OutboxMessage, RmaPhoto
from engine.store.outbox import MAX_ATTEMPTS, send_pending
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, race, rma_payload
from tests.http_receiver import RECEIVER_HOSTS, HttpReceiver
from tests.integration.live_http import Client, Gunicorn
from tests.web.test_api_requests import MODEL
from tests.web.test_runtime_incidents_and_messages import AWAIT_CUSTOMS, CUSTOMS_MESSAGE, intake

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True),
]
N = 8  # racers per service command: enough to interleave on 2 cores, few enough to stay fast
DIAGNOSIS = {"diagnosis": "Gear train worn", "fault_category": "mechanical", "parts_cost": 40, "labour_hours": 1}
HOOK = "http://127.0.0.1:9/hook"  # never called by the service races: they count the outbox rows


@pytest.fixture
def settings(settings):
    """Webhook receivers listen on 127.0.0.1: named in RMA_SERVICE_TASK_HOSTS, as an operator names the LAN's."""
    return dataclasses.replace(settings, service_task_hosts=RECEIVER_HOSTS)


def _subscribe(orc, url: str = HOOK, events=None) -> None:
    integrations.create_subscription(orc, actor(orc, "manager"), url, events=events, centre="SG")


def _records(orc, rma_id: int | None) -> tuple[Counter, Counter]:
    """(audit event kinds, webhook outbox rows by event type) of the RMA."""
    with orc.reading() as s:
        kinds = Counter(s.scalars(select(AuditEvent.kind).where(AuditEvent.rma_id == rma_id)))
        hooks = Counter(
            s.scalars(
                select(OutboxMessage.subject).where(OutboxMessage.rma_id == rma_id, OutboxMessage.channel == "webhook")
            )
        )
    return kinds, hooks


def _outcomes(results) -> Counter:
    """200 for an answer, the status of an engine error; anything else (a crash) fails the test here."""
    crashed = [r for r in results if isinstance(r, Exception) and not isinstance(r, EngineError)]
    assert not crashed, crashed
    return Counter(r.status if isinstance(r, EngineError) else 200 for r in results)


def _once(orc, rma_id, calls, kind: str, hook: str | None = None, all_succeed: bool = False):
    """Race the calls; exactly one is done (one audit `kind`, one webhook `hook`), the others 409 (or, when
    `all_succeed`, the same answer with nothing recorded twice). Returns the results."""
    kinds_before, hooks_before = _records(orc, rma_id)
    results = race(*calls)
    outcomes = _outcomes(results)
    assert outcomes == ({200: len(calls)} if all_succeed else {200: 1, 409: len(calls) - 1}), (outcomes, results)
    kinds, hooks = _records(orc, rma_id)
    assert kinds[kind] - kinds_before[kind] == 1, (kind, kinds)
    if hook is not None:
        assert hooks[hook] - hooks_before[hook] == 1, (hook, hooks)
    return results


def _quoted(orc, serial: str) -> dict:
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40, serial=serial))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)
    return rma


def _task(orc, username: str, rma_id: int) -> dict:
    [task] = tasks.list_tasks(orc, actor(orc, username), rma_id=rma_id)["items"]
    return task


# --- over HTTP: 20 cancels on gunicorn -w 4 ------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_twenty_simultaneous_cancels_on_four_workers_cancel_once_and_send_one_webhook(orc, db_url, tmp_path, capsys):
    with HttpReceiver() as receiver:
        _subscribe(orc, receiver.url, events=["rma.closed"])
        rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="CANCEL-20"))
        server = Gunicorn(db_url, tmp_path, workers=4)
        server.start()
        try:
            client = Client(server.base, timeout=60)
            client.token("manager")  # logged in beforehand: the twenty requests leave at the same instant
            url = f"/api/rmas/{rma['id']}/cancel"
            results = race(*[lambda: client.call("POST", url, {"reason": "customer withdrew"}, user="manager")] * 20)
        finally:
            server.stop()
        assert not [r for r in results if isinstance(r, Exception)], results
        statuses = Counter(status for status, _ in results)
        assert statuses == {200: 1, 409: 19}, results
        assert {body["code"] for status, body in results if status == 409} <= {"conflict", "concurrent_update"}
        kinds, hooks = _records(orc, rma["id"])
        assert kinds["rma_cancelled"] == 1 and kinds["rma_closed"] == 1, kinds
        assert hooks == {"rma.closed": 1}, hooks
        # the outbox delivers it to the receiver over HTTP, once
        senders = {"webhook": senders_from_settings(orc.settings)["webhook"]}
        assert send_pending(orc, senders) == {"sent": 1, "failed": 0}
        assert send_pending(orc, senders) == {"sent": 0, "failed": 0}
        assert [(r.json["type"], r.json["rma"]["id"], r.json["data"]) for r in receiver.requests] == [
            ("rma.closed", rma["id"], {"outcome": "cancelled"})
        ]
    log = server.log()
    assert log.count("Booting worker") >= 4 and "Traceback" not in log, log[-4000:]
    with capsys.disabled():
        print(f"\n[race] 20 cancels of one RMA on gunicorn -w 4, PostgreSQL: {dict(statuses)}; 1 webhook delivered")


# --- the other commands, on the services ------------------------------------------------------------------------


def test_completing_one_task_many_times_at_once_completes_it_once(orc):
    _subscribe(orc)
    users.add_user(orc, "sg.reception2", "reception", "SG", "demo")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="RACE-DONE"))
    task = _task(orc, "sg.reception", rma["id"])
    people = [actor(orc, "sg.reception"), actor(orc, "sg.reception2")]
    _once(
        orc,
        rma["id"],
        [lambda i=i: tasks.complete_task(orc, people[i % 2], task["id"], INTAKE) for i in range(N)],
        "task_completed",
        hook="rma.status_changed",
    )


def test_claiming_and_releasing_one_task_many_times_at_once_is_recorded_once(orc):
    for n in range(2, N + 1):
        users.add_user(orc, f"sg.tech{n}", "technician", "SG", "demo")
    techs = [actor(orc, "sg.tech")] + [actor(orc, f"sg.tech{n}") for n in range(2, N + 1)]
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="RACE-CLAIM"))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    task = _task(orc, "sg.tech", rma["id"])
    # N technicians at once: one gets it
    results = _once(orc, rma["id"], [lambda t=t: tasks.claim_task(orc, t, task["id"]) for t in techs], "task_claimed")
    [winner] = [r["assignee"] for r in results if isinstance(r, dict)]
    holder = next(t for t in techs if t.username == winner)
    # the holder's own claim sent N times at once (double clicks): the same answer each time, no new record
    claimed = _records(orc, rma["id"])[0]["task_claimed"]
    again = race(*[lambda: tasks.claim_task(orc, holder, task["id"])] * N)
    assert _outcomes(again) == {200: N} and {r["assignee"] for r in again} == {winner}, again
    assert _records(orc, rma["id"])[0]["task_claimed"] == claimed
    # released N times at once by the holder: released once, the rest find it released (the same answer)
    _once(orc, rma["id"], [lambda: tasks.unclaim_task(orc, holder, task["id"])] * N, "task_unclaimed", all_succeed=True)


def test_the_customer_deciding_many_times_at_once_is_recorded_once(orc):
    _subscribe(orc)
    rma = _quoted(orc, "RACE-DECIDE")
    token = rma["tracking_token"]
    _once(
        orc,
        rma["id"],
        [lambda i=i: portal.record_customer_decision(orc, token, i % 2 == 0) for i in range(N)],
        "quote_decided",
        hook="rma.quote_decided",
    )


def test_the_customer_turning_texts_off_in_many_tabs_at_once_is_recorded_once(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="RACE-SMS"))
    token = rma["tracking_token"]
    _once(orc, rma["id"], [lambda: portal.set_sms_opt_out(orc, token, True)] * N, "sms_preference", all_succeed=True)


def test_goodwill_proposed_many_times_at_once_is_proposed_once(orc):
    rma = _quoted(orc, "RACE-GOODWILL")
    staff = [actor(orc, "sg.reception"), actor(orc, "sg.tech")]
    _once(
        orc,
        rma["id"],
        [
            lambda i=i: goodwill.propose_goodwill(orc, staff[i % 2], rma["id"], "fee_waiver", "loyal customer")
            for i in range(N)
        ],
        "goodwill_proposed",
    )
    assert [p["status"] for p in goodwill.proposals_for(orc, actor(orc, "manager"), rma["id"])] == ["pending"]


def test_an_incident_retried_many_times_at_once_is_retried_once(orc):
    files = read_bundle_dir(PROCESSES_DIR)
    quote = "round(parts_cost + labour_hours * labour_rate, 2)"
    approval = "stages/rma_approval.bpmn"
    owner = Actor("owner", "process_owner")
    processes.deploy_bundle(orc, owner, {**files, approval: files[approval].replace(quote, "round(parts_cost / 0)")})
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(months_old=40, serial="RACE-RETRY"))
    complete_open_task(orc, "sg.reception", rma["id"], "record_condition", INTAKE)
    assert complete_open_task(orc, "sg.tech", rma["id"], "diagnose", DIAGNOSIS)["rma"]["status"] == "incident"
    processes.deploy_bundle(orc, owner, files, note="the fix")
    _subscribe(orc)
    manager = actor(orc, "manager")
    _once(
        orc,
        rma["id"],
        [lambda: operations.retry_incident(orc, manager, rma["id"], on_current_version=True)] * N,
        "incident_retried",
        hook="rma.status_changed",
    )
    kinds, _ = _records(orc, rma["id"])
    assert kinds["process_version_moved"] == 1 and kinds["incident_resolved"] == 1, kinds


def test_a_message_delivered_by_integrators_many_times_at_once_is_delivered_once(orc):
    """POST /api/rmas/<id>/messages/<name> from several integrators at once: one 202, the others 409."""
    processes.deploy_bundle(
        orc,
        Actor("owner", "process_owner"),
        {"stages/rma_intake.bpmn": intake(AWAIT_CUSTOMS, CUSTOMS_MESSAGE)},
        centre="DE",
        merge=True,
    )
    rma = rmas.open_rma(orc, actor(orc, "de.reception"), rma_payload(centre="DE", serial="RACE-MESSAGE"))
    complete_open_task(orc, "de.reception", rma["id"], "record_condition", INTAKE)
    staff = [actor(orc, "de.reception"), actor(orc, "de.tech"), actor(orc, "manager")]
    results = _once(
        orc,
        rma["id"],
        [
            lambda i=i: process_messages.deliver(
                orc, staff[i % 3], rma["id"], "customs_cleared", {"reference": f"C{i}"}
            )
            for i in range(N)
        ],
        "message_delivered",
    )
    [delivered] = [r for r in results if isinstance(r, dict)]
    assert delivered["rma"]["status"] == "diagnosing"
    assert [t["name"] for t in tasks.list_tasks(orc, actor(orc, "de.tech"), rma_id=rma["id"])["items"]] == ["diagnose"]


def test_an_undelivered_message_requeued_many_times_at_once_is_requeued_once(orc):
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="RACE-REQUEUE"))
    with orc.uow() as uow:
        message = OutboxMessage(
            rma_id=rma["id"],
            rma_number=rma["number"],
            channel="email",
            recipient="kim@example.com",
            subject="Your repair",
            body="...",
            idempotency_key="race-requeue",
            attempts=MAX_ATTEMPTS,
            last_error="550 mailbox unavailable",
        )
        uow.session.add(message)
        uow.commit()
        message_id = message.id
    manager = actor(orc, "manager")
    _once(orc, rma["id"], [lambda: operations.requeue_message(orc, manager, message_id)] * N, "message_requeued")


def test_a_loan_issued_and_returned_many_times_at_once_is_lent_and_returned_once(orc):
    reception = actor(orc, "sg.reception")
    units = [loans.add_unit(orc, actor(orc, "manager"), "SG", f"LOAN-{n}", "Vista X100 Camera")["id"] for n in range(N)]
    rma = rmas.open_rma(orc, reception, rma_payload(serial="RACE-LOAN"))
    # a different unit from each counter: still one loan per RMA
    _once(orc, rma["id"], [lambda u=u: loans.issue(orc, reception, rma["id"], u) for u in units], "loan_issued")
    _once(orc, rma["id"], [lambda: loans.return_unit(orc, reception, rma["id"])] * N, "loan_returned")
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Loan).where(Loan.rma_id == rma["id"])) == 1


def test_the_same_photo_sent_many_times_at_once_is_stored_once(orc):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "PNG")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial="RACE-PHOTO"))
    reception = actor(orc, "sg.reception")
    results = _once(
        orc,
        rma["id"],
        [lambda: photos.add_photos(orc, reception, rma["id"], [("unit.png", out.getvalue())])] * N,
        "photos_added",
        all_succeed=True,
    )
    assert len({r[0]["sha256"] for r in results}) == 1
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(RmaPhoto).where(RmaPhoto.rma_id == rma["id"])) == 1


def test_a_request_answered_in_many_tabs_and_its_parcel_booked_at_many_counters_is_done_once(orc):
    centres.seed_demo_locations(orc)
    catalogue.save_model(orc, actor(orc, "manager"), MODEL)
    created = requests.submit_request(
        orc, rma_payload(serial="RACE-PARCEL"), "receipt.pdf", b"%PDF-1.4\n%%EOF\n", "127.0.0.1"
    )
    rma_id = rmas.list_rmas(orc, actor(orc, "manager"))["items"][0]["id"]
    token = created["tracking_token"]
    _once(
        orc,
        rma_id,
        [lambda: requests.answer_troubleshooting(orc, token, {"troubleshoot_solved": False})] * N,
        "troubleshooting_answered",
    )
    complete_open_task(orc, "sg.reception", rma_id, "review_request", {"review_decision": "ship_in"})
    reception = actor(orc, "sg.reception")
    _subscribe(orc)
    _once(
        orc,
        rma_id,
        [lambda: parcels.receive_parcel(orc, reception, created["number"])] * N,
        "parcel_received",
        hook="rma.status_changed",
    )


def test_an_rma_migrated_by_many_managers_at_once_moves_once(orc):
    from tests.bpmn_edit import add_plain_centre, insert_user_task, simple_form

    add_plain_centre(orc, "NL")  # runs the base process, which the new version changes
    rma = rmas.open_rma(orc, actor(orc, "nl.reception"), rma_payload(centre="NL", serial="RACE-MIGRATE"))
    owner = actor(orc, "owner")
    with orc.uow() as uow:
        stage = processes.latest_bundle(uow.session, None).files["stages/rma_intake.bpmn"]
    stage = insert_user_task(
        stage,
        after="record_condition",
        task_id="photograph_unit",
        name="Photograph unit",
        form="photo.json",
        status="received",
    )
    target = processes.deploy_upload(
        orc, owner, [("rma_intake.bpmn", stage), ("photo.json", simple_form("Photos", "photo_ref", "Photo"))], note="x"
    )
    results = race(
        *[lambda: migration.migrate_rmas(orc, owner, target["version"], None, False, [rma["id"]]) for _ in range(N)]
    )
    assert _outcomes(results) == {200: N}, results
    assert sum(len(r["moved"]) for r in results) == 1, results
    kinds, _ = _records(orc, rma["id"])
    assert kinds["process_migrated"] == 1, kinds
