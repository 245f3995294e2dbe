"""The partner portal and the managers' partner pages (issue 17): a partner sees only its organisation, every
staff page is 404 to it, a CSV's problems are listed by line and column and nothing is opened."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from engine.services import batches
from engine.store.model import Rma
from tests.helpers import staff_session
from tests.partner_world import MODEL, partner, seed_partners, units

pytestmark = pytest.mark.without_csrf


@pytest.fixture
def world(app, client, orc):
    ids = seed_partners(orc)
    return client, ids, orc


def as_user(client, app, username):
    with client.session_transaction() as sess:
        staff_session(sess, app, username)


def test_the_portal_lists_only_the_partners_units_with_its_figures(app, world):
    client, ids, orc = world
    mine = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(2, "LION")})
    theirs = batches.open_batch(orc, partner(orc, "kopi"), {"centre": "SG", "units": units(1, "KOPI")})
    as_user(client, app, "lion.ops")
    page = client.get("/partner/").get_data(as_text=True)
    assert "Lion CCTV Distribution" in page and "LION-00000" in page and mine["number"] in page
    assert "KOPI-00000" not in page and theirs["units"][0]["number"] not in page
    assert 'data-testid="partner-figures"' in page
    assert client.get(f"/partner/rmas/{mine['units'][0]['rma_id']}").status_code == 200
    assert client.get(f"/partner/rmas/{theirs['units'][0]['rma_id']}").status_code == 404
    assert client.get(f"/partner/batches/{theirs['id']}").status_code == 404
    assert client.get(f"/partner/batches/{mine['id']}").status_code == 200


@pytest.mark.parametrize(
    "url", ["/inbox", "/rmas", "/rmas/1", "/ops/dashboard", "/owners/versions", "/partner/organisations"]
)
def test_staff_pages_are_404_or_refused_to_a_partner(app, world, url):
    client, _, _ = world
    as_user(client, app, "lion.ops")
    assert client.get(url).status_code in (403, 404)
    assert client.get("/").headers["Location"].endswith("/partner/")


def test_a_csv_with_problems_lists_each_by_line_and_column_and_opens_nothing(app, world):
    client, _, orc = world
    as_user(client, app, "lion.ops")
    csv = (
        "model,serial_number,fault_description,purchase_date,site\n"
        f"{MODEL},A1,No video,2025-01-10,Mall\n"
        "Vista Z9 Unknown,A2,Dead,,Mall\n"
        f"{MODEL},A1,Dead,10/01/2025,Mall\n"
        f"{MODEL},A4,,,\n"
    )
    r = client.post(
        "/partner/batches/new",
        data={"source": "file", "reference": "PO-1", "file": (io.BytesIO(csv.encode()), "units.csv")},
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'data-testid="file-errors"' in page
    for line, column in ((3, "model"), (4, "serial_number"), (4, "purchase_date"), (5, "fault_description")):
        assert f'<td class="num">{line}</td><td>{column}</td>' in page, (line, column)
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Rma)) == 0


def test_a_csv_upload_opens_the_batch_and_shows_its_page(app, world):
    client, _, _ = world
    as_user(client, app, "lion.ops")
    csv = "model,serial_number,fault_description,site,customer_reference\n" + "".join(
        f"{MODEL},CSV-{i},No video,Depot {i},T-{i}\n" for i in range(5)
    )
    r = client.post(
        "/partner/batches/new",
        data={"source": "file", "reference": "PO-9", "file": (io.BytesIO(csv.encode()), "units.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "PO-9" in page and "CSV-4" in page and "Depot 3" in page and 'data-testid="batch-estimate"' in page


def test_the_table_form_opens_a_batch_and_marks_a_bad_row(app, world):
    client, _, orc = world
    as_user(client, app, "lion.ops")
    bad = {
        "rows": "3",
        "source": "table",
        "model-0": MODEL,
        "serial_number-0": "T1",
        "fault_description-0": "x",
        "model-1": "Nope",
        "serial_number-1": "T2",
        "fault_description-1": "y",
    }
    r = client.post("/partner/batches/new", data=bad)
    assert r.status_code == 422 and "Unknown model" in r.get_data(as_text=True)
    good = {**bad, "model-1": MODEL}
    r = client.post("/partner/batches/new", data=good)
    assert r.status_code == 302
    with orc.reading() as s:
        assert s.scalar(select(func.count()).select_from(Rma)) == 2


def test_a_manager_creates_an_organisation_and_an_account_from_the_pages(app, world):
    client, _, _ = world
    as_user(client, app, "manager")
    r = client.post(
        "/partner/organisations",
        data={
            "name": "Harbour Alarms",
            "type": "installer",
            "centre": "SG",
            "contact_email": "a@harbour.example",
            "language": "en",
        },
    )
    assert r.status_code == 302
    r = client.post(r.headers["Location"], data={"username": "harbour.ops", "password": "harbour-pass"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "harbour.ops" in page and 'data-testid="partner-figures"' in page
    assert (
        client.post(
            "/partner/organisations",
            data={"name": "Harbour Alarms", "type": "installer", "centre": "SG", "contact_email": "a@harbour.example"},
        ).status_code
        == 409
    )


def test_reception_opens_a_batch_on_a_partners_behalf_from_the_pages(app, world):
    client, ids, orc = world
    as_user(client, app, "sg.reception")
    page = client.get("/partner/batches/new").get_data(as_text=True)
    assert 'data-testid="choose-organisation"' in page and "Lion CCTV Distribution" in page
    assert "Spree Sicherheit" not in page  # Berlin's partner is not Singapore reception's
    form = {"organisation": str(ids["lion"]), "rows": "1", "source": "table", "model-0": MODEL}
    form |= {"serial_number-0": "R-1", "fault_description-0": "Dead"}
    r = client.post("/partner/batches/new", data=form)
    assert r.status_code == 302
    assert "R-1" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/partner/batches/new?organisation={ids['spree']}").status_code == 404
    with orc.reading() as s:
        assert s.scalar(select(Rma.organisation_id).where(Rma.serial_number == "R-1")) == ids["lion"]
