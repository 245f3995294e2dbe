"""Goodwill: staff propose on a pending quote, a manager decides it as a task, the sums per centre."""

from __future__ import annotations

from tests.helpers import INTAKE


def quoted(api) -> dict:
    """Out of warranty and diagnosed: quote 100 + 2 h x 60 = 220 SGD, waiting for the customer."""
    rma = api.open_rma(months_old=36, serial="SN-GW")
    api.do("sg.reception", rma["id"], "record_condition", INTAKE)
    api.do(
        "sg.tech",
        rma["id"],
        "diagnose",
        {"diagnosis": "Worn gear", "fault_category": "mechanical", "parts_cost": 100, "labour_hours": 2},
    )
    return api.rma("manager", rma["id"])


def test_approved_discount_lowers_the_quote_and_is_summed_per_centre(api):
    rma = quoted(api)
    assert rma["quote_total"] == 220
    proposed = api.post(
        "sg.tech",
        f"/api/rmas/{rma['id']}/goodwill",
        {"kind": "discount", "amount": "50", "reason": "Second fault in a year"},
    )
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["status"] == "pending"
    again = api.post("sg.reception", f"/api/rmas/{rma['id']}/goodwill", {"kind": "fee_waiver", "reason": "x"})
    assert again.status_code == 409
    api.do("manager", rma["id"], "approve_goodwill", {"goodwill_approved": True, "goodwill_notes": "Fine"})
    assert api.rma("manager", rma["id"])["quote_total"] == 170
    listed = api.get("sg.reception", f"/api/rmas/{rma['id']}/goodwill").get_json()
    assert [(p["status"], p["amount"], p["decided_by"]) for p in listed] == [("approved", 50.0, "manager")]
    summary = api.get("manager", "/api/goodwill/summary").get_json()
    assert summary == [
        {
            "centre": "SG",
            "currency": "SGD",
            "approved": 1,
            "rejected": 0,
            "pending": 0,
            "approved_total": 50.0,
            "proposed_total": 50.0,
        }
    ]
    assert api.get("sg.reception", "/api/goodwill/summary").status_code == 403


def test_goodwill_needs_a_pending_quote_and_a_sane_amount(api):
    rma = api.open_rma(serial="SN-NOQUOTE")
    early = api.post("sg.tech", f"/api/rmas/{rma['id']}/goodwill", {"kind": "discount", "amount": "5", "reason": "r"})
    assert early.status_code == 409
    quoted_rma = quoted(api)
    too_much = api.post(
        "sg.tech", f"/api/rmas/{quoted_rma['id']}/goodwill", {"kind": "discount", "amount": "500", "reason": "r"}
    )
    assert too_much.status_code == 422 and "amount" in too_much.get_json()["errors"]
    assert (
        api.post("sg.qa", f"/api/rmas/{quoted_rma['id']}/goodwill", {"kind": "fee_waiver", "reason": "r"}).status_code
        == 403
    )
    assert (
        api.post("de.tech", f"/api/rmas/{quoted_rma['id']}/goodwill", {"kind": "fee_waiver", "reason": "r"}).status_code
        == 404
    )


def test_goodwill_page_proposes_a_fee_waiver_and_managers_see_the_summary(app, api):
    app.config["WTF_CSRF_ENABLED"] = False
    rma = quoted(api)
    client = app.test_client()
    client.post("/login", data={"username": "sg.reception", "password": "demo"})
    page = client.post(
        f"/rmas/{rma['id']}/goodwill", data={"kind": "fee_waiver", "reason": "Long wait"}, follow_redirects=True
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Goodwill proposed" in html and "120.00 SGD" in html  # the labour: 2 h x 60
    assert client.get("/manager/goodwill").status_code == 403
    client.post("/login", data={"username": "manager", "password": "demo"})
    assert '<td>SG</td><td>SGD</td><td class="num">0</td><td class="num">0</td><td class="num">1</td>' in client.get(
        "/manager/goodwill"
    ).get_data(as_text=True)
