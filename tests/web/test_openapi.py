"""The OpenAPI document describes every endpoint, its schemas, errors and security."""

from __future__ import annotations

import pytest

from engine import Orchestrator, Settings

PATHS = {
    "/api/health": {"get"},
    "/api/auth/token": {"post"},
    "/api/auth/revoke": {"post"},
    "/api/me": {"get"},
    "/api/auth/tokens": {"get"},
    "/api/auth/tokens/{token_id}": {"delete"},
    "/api/centres": {"get"},
    "/api/rmas": {"get", "post"},
    "/api/rmas/{rma_id}": {"get"},
    "/api/tasks": {"get"},
    "/api/tasks/{task_id}": {"get"},
    "/api/tasks/{task_id}/claim": {"post"},
    "/api/tasks/{task_id}/unclaim": {"post"},
    "/api/tasks/{task_id}/complete": {"post"},
    "/api/portal/{tracking_token}": {"get"},
    "/api/portal/{tracking_token}/decision": {"post"},
    "/api/processes": {"get"},
    "/api/processes/deploy": {"post"},
    "/api/processes/validate": {"post"},
    "/api/processes/{version}": {"get"},
    "/api/processes/{version}/files/{name}": {"get"},
    "/api/processes/{version}/migrate": {"post"},
    # time and operations
    "/api/incidents": {"get"},
    "/api/incidents/{rma_id}/retry": {"post"},
    "/api/rmas/{rma_id}/cancel": {"post"},
    "/api/rmas/{rma_id}/messages/{message_name}": {"post"},
    "/api/outbox/undelivered": {"get"},
    "/api/outbox/{message_id}/requeue": {"post"},
    "/api/dashboard": {"get"},
    "/api/webhooks": {"get", "post"},
    "/api/webhooks/{sub_id}": {"delete"},
    "/api/webhooks/{sub_id}/deliveries": {"get"},
    # the customer's side
    "/api/rmas/{rma_id}/photos": {"post"},
    "/api/rmas/{rma_id}/customer-side": {"get"},
    "/api/rmas/{rma_id}/receipt.pdf": {"get"},
    "/api/rmas/{rma_id}/loans": {"post"},
    "/api/rmas/{rma_id}/loans/return": {"post"},
    "/api/centres/{centre}/loan-units": {"get", "post"},
    "/api/portal/{tracking_token}/sms": {"post"},
    # before the repair: online requests, the centre finder, parcels, the catalogue; goodwill
    "/api/requests": {"post"},
    "/api/requests/{tracking_token}": {"get"},
    "/api/requests/{tracking_token}/troubleshooting": {"post"},
    "/api/requests/{tracking_token}/choice": {"post"},
    "/api/centres/nearby": {"get"},
    "/api/parcels": {"post"},
    "/api/catalogue": {"get", "post"},
    "/api/catalogue/{model}": {"delete"},
    "/api/catalogue/import": {"post"},
    "/api/rmas/{rma_id}/goodwill": {"get", "post"},
    "/api/goodwill/summary": {"get"},
    # partner organisations and batches (issue 17, points 1, 2 and 6)
    "/api/organisations": {"get", "post"},
    "/api/organisations/{org_id}": {"get"},
    "/api/organisations/{org_id}/users": {"post"},
    "/api/organisations/{org_id}/rmas": {"get"},
    "/api/organisations/{org_id}/rmas/{rma_id}": {"get"},
    "/api/organisations/{org_id}/figures": {"get"},
    "/api/batches": {"get", "post"},
    "/api/batches/{batch_id}": {"get"},
    # a batch's parcels and quotes, the register of units sold (issue 17, points 3-5)
    "/api/batches/{batch_id}/arrivals": {"post"},
    "/api/batches/{batch_id}/shipments": {"post"},
    "/api/batches/{batch_id}/parcels": {"get"},
    "/api/batches/{batch_id}/quotes": {"post"},
    "/api/register/units": {"get", "post"},
    "/api/register/units/{serial}": {"get"},
    "/api/register/import": {"post"},
}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def app(tmp_path):
    """The document does not depend on the database: one unmigrated SQLite file will do."""
    from web import create_app

    settings = Settings.from_env(
        {},
        database_url=f"sqlite:///{tmp_path / 'doc.sqlite3'}",
        instance_dir=tmp_path,
        secret_key="test-secret",
        run_worker=False,
    )
    orc = Orchestrator(settings)
    yield create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True})
    orc.dispose()


def _doc(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_lists_every_api_path_and_method(client):
    paths = _doc(client)["paths"]
    assert {path: set(ops) & METHODS for path, ops in paths.items()} == PATHS


def test_openapi_documents_bearer_auth_only_where_login_is_needed(client):
    doc = _doc(client)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    open_ops = {
        ("/api/health", "get"),
        ("/api/auth/token", "post"),
        ("/api/portal/{tracking_token}", "get"),
        ("/api/portal/{tracking_token}/decision", "post"),
        ("/api/portal/{tracking_token}/sms", "post"),
        # a customer without an account: the request form, the finder, the catalogue it offers, the
        # request page's answers (the tracking token is the credential)
        ("/api/requests", "post"),
        ("/api/centres/nearby", "get"),
        ("/api/catalogue", "get"),
        ("/api/requests/{tracking_token}", "get"),
        ("/api/requests/{tracking_token}/troubleshooting", "post"),
        ("/api/requests/{tracking_token}/choice", "post"),
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                secured = op.get("security") == [{"bearerAuth": []}]
                assert secured == ((path, method) not in open_ops), (path, method)
                assert (("401" in op["responses"]) == secured) or path == "/api/auth/token", (path, method)


def test_openapi_documents_request_response_and_error_schemas(client):
    doc = _doc(client)
    schemas = doc["components"]["schemas"]
    assert {
        "RmaCreate",
        "Rma",
        "RmaPage",
        "Task",
        "TaskPage",
        "CompleteTask",
        "Completion",
        "PortalView",
        "Decision",
        "Token",
        "Error",
    } <= set(schemas)
    assert set(schemas["Error"]["properties"]) == {"code", "message", "errors"}
    complete = doc["paths"]["/api/tasks/{task_id}/complete"]["post"]
    assert complete["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CompleteTask")
    assert {"200", "401", "403", "404", "409", "422"} <= set(complete["responses"])
    assert complete["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    create = schemas["RmaCreate"]
    assert set(create["required"]) == {"centre", "customer", "product", "fault_description"}
    assert schemas["ProductIn"]["properties"]["purchase_date"]["format"] == "date"
    assert schemas["CustomerIn"]["properties"]["email"]["format"] == "email"


def test_no_interactive_docs_from_a_cdn(client):
    text = client.get("/api/openapi.json").get_data(as_text=True)
    assert "cdn" not in text.lower()
    response = client.get("/api/docs")
    assert response.status_code == 404 or "cdn" not in response.get_data(as_text=True).lower()
