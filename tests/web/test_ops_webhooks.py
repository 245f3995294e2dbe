"""The webhook subscription API: managers register, list, read the log and delete; others may not."""

from __future__ import annotations


def test_manager_registers_lists_and_deletes_a_subscription(api):
    created = api.post(
        "manager",
        "/api/webhooks",
        {"url": "https://erp.example.com/rma", "events": ["rma.closed"], "description": "ERP"},
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["events"] == ["rma.closed"] and body["centre"] is None and len(body["secret"]) >= 32
    listed = api.get("manager", "/api/webhooks").get_json()
    assert [s["url"] for s in listed] == ["https://erp.example.com/rma"] and "secret" not in listed[0]
    assert api.get("manager", f"/api/webhooks/{body['id']}/deliveries").get_json() == []
    deleted = api.client.delete(f"/api/webhooks/{body['id']}", headers=api.headers("manager"))
    assert deleted.status_code == 204
    assert api.get("manager", "/api/webhooks").get_json() == []
    assert api.client.delete(f"/api/webhooks/{body['id']}", headers=api.headers("manager")).status_code == 404


def test_invalid_subscriptions_are_refused_with_field_errors(api):
    bad = api.post("manager", "/api/webhooks", {"url": "ftp://erp.example.com/x", "events": ["rma.exploded"]})
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert "events" in errors
    bad = api.post("manager", "/api/webhooks", {"url": "file:///etc/passwd"})
    assert bad.status_code == 422 and "url" in bad.get_json()["errors"]
    short = api.post("manager", "/api/webhooks", {"url": "https://erp.example.com/x", "secret": "short"})
    assert short.status_code == 422


def test_only_managers_manage_webhooks(api):
    for username in ("sg.reception", "sg.tech", "sg.qa", "owner"):
        assert api.post(username, "/api/webhooks", {"url": "https://x.example.com/h"}).status_code == 403
        assert api.get(username, "/api/webhooks").status_code == 403
    assert api.client.get("/api/webhooks").status_code == 401
