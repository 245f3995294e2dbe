"""A batch's parcels and quotes and the register of units sold over HTTP (issue 17, points 3-5): the partner's
token decides its quotes all at once, another organisation's partner finds nothing, the register's errors name line
and column, reception's book-in flags the missing and the unexpected, and the RMA says which warranty date counts."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from tests.driver import DIAGNOSIS, complete_open_task
from tests.partner_world import MODEL, seed_partners, units
from tests.web.test_api_partners_batches import Http

OLD = (date.today() - timedelta(days=1500)).isoformat()


@pytest.fixture
def world(client, orc):
    return Http(client), seed_partners(orc), orc


def _open(http, n=3, **extra):
    body = {"centre": "SG", "units": [{**u, **extra} for u in units(n, prefix="BP")]}
    r = http.post("lion.ops", "/api/batches", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_reception_books_a_parcel_in_with_a_missing_and_an_unexpected_serial(world):
    http, _, _ = world
    batch = _open(http)
    first = batch["units"][0]
    r = http.post(
        "sg.reception",
        f"/api/batches/{batch['id']}/arrivals",
        {"scans": [first["number"], "BP-ZZZ"], "units": [{"rma_id": batch["units"][1]["rma_id"], "serial": "LABEL-7"}]},
    )
    assert r.status_code == 200, r.get_json()
    arrival = r.get_json()
    assert arrival["arrived"] == [first["number"], batch["units"][1]["number"]]
    assert arrival["missing"] == ["BP-00002"] and arrival["unexpected"] == ["BP-ZZZ"]
    parcels = http.get("sg.reception", f"/api/batches/{batch['id']}/parcels").get_json()
    assert parcels["awaiting"] == [batch["units"][2]["rma_id"]]
    codes = {f["code"] for f in parcels["flags"][str(batch["units"][1]["rma_id"])]}
    assert codes == {"serial_differs", "serial_not_registered"}
    rma = http.get("sg.reception", f"/api/rmas/{batch['units'][1]['rma_id']}").get_json()
    assert {f["code"] for f in rma["serial_flags"]} == codes and rma["status"] == "received"
    # the partner sees its batch's parcels, without the staff flags; it may not book in
    assert http.get("lion.ops", f"/api/batches/{batch['id']}/parcels").get_json()["flags"] == {}
    assert http.post("lion.ops", f"/api/batches/{batch['id']}/arrivals", {"scans": ["x"]}).status_code == 403
    bad = http.post("sg.reception", f"/api/batches/{batch['id']}/arrivals", {"scans": ["A\u0000B"]})
    assert bad.status_code == 422


def test_the_partner_approves_all_quotes_from_its_token_and_nobody_else_can(world):
    http, _, orc = world
    batch = _open(http, n=2, purchase_date=OLD)
    ids = [u["rma_id"] for u in batch["units"]]
    http.post("sg.reception", f"/api/batches/{batch['id']}/arrivals", {"scans": [u["number"] for u in batch["units"]]})
    for rma_id in ids:
        complete_open_task(orc, None, rma_id, "record_condition")
        complete_open_task(orc, None, rma_id, "diagnose", DIAGNOSIS)
    assert http.post("kopi.ops", f"/api/batches/{batch['id']}/quotes", {"all": True}).status_code == 404
    assert http.post("manager", f"/api/batches/{batch['id']}/quotes", {"all": True}).status_code == 403
    assert http.post("lion.ops", f"/api/batches/{batch['id']}/quotes", {"all": 1}).status_code == 422
    r = http.post("lion.ops", f"/api/batches/{batch['id']}/quotes", {"all": True})
    assert r.status_code == 200, r.get_json()
    assert [d["rma_id"] for d in r.get_json()["decided"]] == ids
    assert {http.get("manager", f"/api/rmas/{i}").get_json()["status"] for i in ids} == {"repairing"}
    assert http.post("lion.ops", f"/api/batches/{batch['id']}/quotes", {"all": True}).status_code == 409


def test_the_register_over_http_and_the_warranty_date_the_rma_shows(world):
    http, orgs, _ = world
    installed = (date.today() - timedelta(days=40)).isoformat()
    r = http.post(
        "manager",
        "/api/register/units",
        {
            "units": [
                {"serial_number": "BP-00000", "model": MODEL, "ship_date": OLD, "organisation_id": orgs["lion"]},
                {"serial_number": "BP-00001", "model": MODEL, "ship_date": OLD, "installation_date": installed},
            ]
        },
    )
    assert r.status_code == 200 and r.get_json() == {"imported": 2, "created": 2, "updated": 0}
    got = http.get("sg.tech", "/api/register/units/bp-00000").get_json()
    assert got["organisation"] == "Lion CCTV Distribution" and got["ship_date"] == OLD
    assert http.get("sg.tech", "/api/register/units/NOPE").status_code == 404
    assert http.get("sg.tech", "/api/register/units/A%00B").status_code == 404  # a NUL is never queried
    one = {"units": [{"serial_number": "Z", "model": MODEL, "ship_date": OLD}]}
    assert http.post("sg.reception", "/api/register/units", one).status_code == 403
    csv = f"serial_number,model,ship_date\nX-1,{MODEL},{OLD}\nX-2,{MODEL},yesterday\n"
    r = http.client.post(
        "/api/register/import",
        headers=http.headers("manager"),
        data={"file": (io.BytesIO(csv.encode()), "units.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"line": 3, "column": "ship_date", "message": "'yesterday' is not a date (YYYY-MM-DD)."}
    ]
    batch = _open(http, n=3, purchase_date=(date.today() - timedelta(days=100)).isoformat())
    shown = [http.get("manager", f"/api/rmas/{u['rma_id']}").get_json()["warranty"] for u in batch["units"]]
    assert [w["basis"] for w in shown] == ["purchase", "installation", "purchase"]
    assert shown[1]["date"] == installed
    portal = http.client.get(f"/api/portal/{batch_token(http, batch['units'][1]['rma_id'])}").get_json()
    assert portal["warranty"]["basis"] == "installation"
    assert portal["warranty"]["basis_text"] == "the registered installation date"


def batch_token(http, rma_id):
    return http.get("manager", f"/api/rmas/{rma_id}").get_json()["tracking_token"]


def test_the_batch_has_one_packing_slip_with_every_units_barcode_as_a_page_and_a_pdf(app, world):
    from tests.helpers import staff_session

    http, _, _ = world
    batch = _open(http, n=3)
    with http.client.session_transaction() as sess:
        staff_session(sess, app, "lion.ops")
    page = http.client.get(f"/partner/batches/{batch['id']}/slip")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for unit in batch["units"]:
        assert f'aria-label="Barcode {unit["number"]}"' in html
    pdf = http.client.get(f"/partner/batches/{batch['id']}/slip.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    with http.client.session_transaction() as sess:
        staff_session(sess, app, "kopi.ops")  # another organisation's partner: not there
    assert http.client.get(f"/partner/batches/{batch['id']}/slip.pdf").status_code == 404
