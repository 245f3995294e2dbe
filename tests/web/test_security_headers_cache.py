"""Pages with a customer's data are kept by no cache (Cache-Control: no-store); our public static files stay
cacheable (revalidated by their ETag)."""

from __future__ import annotations

import pytest

from engine.services import batches
from tests.helpers import INTAKE, staff_session
from tests.partner_world import partner, seed_partners, units
from tests.web.test_portal_customer import png, upload

pytestmark = pytest.mark.without_csrf


def _as(client, app, username: str) -> None:
    with client.session_transaction() as sess:
        staff_session(sess, app, username)


def _no_store(response) -> None:
    assert response.status_code == 200, response.status_code
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers.get("Cache-Control")


def test_staff_partner_and_tracking_pages_are_not_stored(app, client, api, orc):
    rma = api.open_rma()
    _as(client, app, "sg.reception")
    for url in ("/inbox", f"/rmas/{rma['id']}", "/rmas"):
        _no_store(client.get(url))
    seed_partners(orc)
    batch = batches.open_batch(orc, partner(orc, "lion"), {"centre": "SG", "units": units(1, "LION")})
    _as(client, app, "lion.ops")
    _no_store(client.get("/partner/"))
    _no_store(client.get(f"/partner/rmas/{batch['units'][0]['rma_id']}"))
    with client.session_transaction() as sess:
        sess.clear()
    _no_store(client.get(f"/track/{rma['tracking_token']}"))
    _no_store(client.get("/login"))


def test_a_downloaded_file_is_not_stored_either(app, client, api):
    """send_file answers `no-cache` (store, then revalidate) by itself: the receipt PDF must still say no-store."""
    rma = api.open_rma()
    with client.get(f"/track/{rma['tracking_token']}/receipt.pdf") as response:
        assert response.status_code == 200
        assert "no-store" in response.headers["Cache-Control"]


def test_a_customers_photo_is_cached_by_the_staff_browser_only(app, client, api):
    """The photo view keeps its max-age (a photo never changes under its hash), but no shared cache may keep it."""
    rma = api.open_rma()
    [photo] = upload(api, rma["id"], ("front.png", png())).get_json()
    api.do("sg.reception", rma["id"], "record_condition", {**INTAKE, "photos": [photo["sha256"]]})
    _as(client, app, "sg.reception")
    with client.get(f"/rmas/{rma['id']}/photos/{photo['sha256']}") as response:
        assert response.status_code == 200
        directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
        assert "private" in directives and "public" not in directives and "max-age=86400" in directives


def test_a_static_file_stays_cacheable(client):
    with client.get("/static/app.css") as response:  # a file's response is streamed: close it
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")
        etag = response.headers["ETag"]
    with client.get("/static/app.css", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304
        assert "no-store" not in again.headers.get("Cache-Control", "")
