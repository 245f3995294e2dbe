"""Idempotency-Key on POST /api/rmas and POST /api/requests (issue 20, point 14).

The same key with the same body within 24 hours answers the first RMA again, never a second one; the same key
with another body is 422; a key is scoped per API user (and, for anonymous requests, only ever replayed to the
same body, so a key alone never reveals another customer's tracking token); a key too long or with control
characters is 422 naming the header; keys older than 24 hours are ignored and purged. Concurrent requests with
one key create exactly one RMA and all answer it (on PostgreSQL, threads). Each case on both databases.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.services import centres
from engine.store.model import IdempotencyKey, Rma
from tests.helpers import race, rma_payload
from tests.web.conftest import ApiDriver

PG_ONLY = pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MODEL = {
    "model": "Vista X100 Camera",
    "category": "camera",
    "warranty_months": 24,
    "replacement_value": 400,
    "currency": "SGD",
    "known_issues": [],
}


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


@pytest.fixture
def online(orc, api):
    centres.seed_demo_locations(orc)
    assert api.post("manager", "/api/catalogue", MODEL).status_code == 200


def _count(orc) -> int:
    with orc.reading() as s:
        return s.scalar(select(func.count()).select_from(Rma))


def _open(api, key, username="sg.reception", **payload):
    headers = {**api.headers(username), **({"Idempotency-Key": key} if key is not None else {})}
    return api.client.post("/api/rmas", json=rma_payload(**payload), headers=headers)


def _form(**overrides) -> dict:
    fields = {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": "en",
        "model": "Vista X100 Camera",
        "serial_number": "SN-WEB-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not power on",
    }
    return {**fields, **overrides}


def _submit(client, key, proof=PDF, address="198.51.100.7", **overrides):
    data = {**_form(**overrides), "proof_of_purchase": (io.BytesIO(proof), "receipt.pdf")}
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        "/api/requests",
        data=data,
        headers=headers,
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": address},
    )


# --- /api/rmas ------------------------------------------------------------------------------------------


def test_the_same_key_and_body_answers_the_first_rma(orc, api):
    first, again = _open(api, "k-1"), _open(api, "k-1")
    assert first.status_code == 201 and again.status_code == 201, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"] and _count(orc) == 1


def test_without_a_key_every_request_is_a_new_rma(orc, api):
    assert _open(api, None).get_json()["id"] != _open(api, None).get_json()["id"] and _count(orc) == 2


def test_the_same_key_with_another_body_is_422(orc, api):
    assert _open(api, "k-2").status_code == 201
    again = _open(api, "k-2", serial="SN-OTHER")
    assert again.status_code == 422 and "Idempotency-Key" in str(again.get_json()) and _count(orc) == 1


def test_a_key_counts_per_user(orc, api):
    mine, theirs = _open(api, "shared"), _open(api, "shared", username="manager")
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"] and _count(orc) == 2


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "a\x00b", "tab\there", "line\nbreak", "del\x7f", "caf\u00e9", ""],
    ids=["too long", "NUL", "tab", "LF", "DEL", "non-ASCII", "empty"],
)
def test_a_bad_key_is_422_naming_the_header(orc, api, key):
    try:
        response = _open(api, key)
    except ValueError:  # the test client itself refuses a header with a line break: nothing reaches the app
        assert _count(orc) == 0
        return
    assert response.status_code == 422, response.get_json()
    assert "Idempotency-Key" in str(response.get_json()) and _count(orc) == 0


def test_a_key_of_255_printable_characters_is_taken(orc, api):
    key = "".join(chr(32 + i % 95) for i in range(255))
    assert _open(api, key).get_json()["id"] == _open(api, key).get_json()["id"]


def test_a_key_older_than_a_day_is_ignored_and_purged(orc, api):
    first = _open(api, "old").get_json()["id"]
    with time_machine.travel(date.today() + timedelta(days=2), tick=True):
        second = _open(api, "old", months_old=1)
        assert second.status_code == 201 and second.get_json()["id"] != first
    with orc.reading() as s:
        assert s.scalars(select(IdempotencyKey.rma_id)).all() == [second.get_json()["id"]]


# --- /api/requests --------------------------------------------------------------------------------------


def test_a_request_replayed_with_the_same_body_answers_the_first_request(orc, client, online):
    first, again = _submit(client, "req-1"), _submit(client, "req-1")
    assert first.status_code == again.status_code == 201, again.get_json()
    assert again.get_json() == first.get_json() and _count(orc) == 1


@pytest.mark.parametrize(
    "change",
    [{"email": "attacker@example.com"}, {"serial_number": "SN-2"}, {"proof": PDF + b"%extra\n"}],
    ids=["another e-mail", "another serial", "another proof file"],
)
def test_someone_elses_key_with_another_body_gets_422_and_no_tracking_token(orc, client, online, change):
    first = _submit(client, "victim-key")
    assert first.status_code == 201
    stolen = _submit(client, "victim-key", address="203.0.113.9", **change)
    assert stolen.status_code == 422 and "Idempotency-Key" in str(stolen.get_json())
    assert first.get_json()["tracking_token"] not in stolen.get_data(as_text=True) and _count(orc) == 1


def test_a_bad_request_key_is_422(orc, client, online):
    response = _submit(client, "y" * 256)
    assert response.status_code == 422 and "Idempotency-Key" in str(response.get_json()) and _count(orc) == 0


def test_the_openapi_document_names_the_header_on_both_operations(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/rmas", "/api/requests"):
        names = [p.get("name") for p in spec["paths"][path]["post"].get("parameters", [])]
        assert "Idempotency-Key" in names, path


# --- races (PostgreSQL) ---------------------------------------------------------------------------------


@PG_ONLY
@pytest.mark.timeout(240)
@pytest.mark.parametrize("n", [2, 12])
def test_concurrent_opens_with_one_key_create_one_rma(orc, app, api, n):
    headers = {**api.headers("sg.reception"), "Idempotency-Key": f"race-{n}"}
    payload = rma_payload()

    def call():
        response = app.test_client().post("/api/rmas", json=payload, headers=headers)
        return response.status_code, (response.get_json() or {}).get("id")

    results = race(*[call] * n)
    assert {r[0] for r in results} == {201}, results
    assert len({r[1] for r in results}) == 1 and _count(orc) == 1


@PG_ONLY
@pytest.mark.timeout(240)
def test_concurrent_requests_with_one_key_create_one_rma(orc, app, online):
    def call(i):
        response = _submit(app.test_client(), "race-req", address=f"198.51.100.{i}")
        return response.status_code, (response.get_json() or {}).get("tracking_token")

    results = race(*[lambda i=i: call(i) for i in range(10)])
    assert {r[0] for r in results} == {201}, results
    assert len({r[1] for r in results}) == 1 and _count(orc) == 1
