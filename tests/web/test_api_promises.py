"""The slip of an estimate in the customer's view through the API (issue 16.10): GET /api/portal/<token>."""

from __future__ import annotations

from datetime import date, timedelta

from engine.customer import estimates
from engine.services import promises
from engine.store.model import RmaEstimate
from tests.helpers import INTAKE


def test_the_portal_view_names_the_slip_once_the_customer_was_told(api, orc):
    estimates.clear_cache()
    rma = api.open_rma()
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    url = f"/api/portal/{rma['tracking_token']}"
    assert api.client.get(url).get_json()["slip"] is None  # within its range: nothing to say
    with orc.reading() as s:
        promised = s.get(RmaEstimate, rma["id"]).latest
    assert promises.notify_slipped_promises(orc, promises.promise_end(promised, "Asia/Singapore") - timedelta(hours=1))
    view = api.client.get(url).get_json()
    assert date.fromisoformat(view["slip"]["promised"]) == promised and view["slip"]["stage"] == "Diagnosis"
    assert view["slip"]["text"].startswith("Later than we said")
    assert date.fromisoformat(view["eta"]["latest"]) > promised  # the new range
    assert [e["kind"] for e in view["history"]][-1] == "eta_slipped"
