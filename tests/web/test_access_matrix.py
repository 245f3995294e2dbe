"""Who may call what: every documented API endpoint x every role x own centre / another centre.

The endpoints come from the app's own /api/openapi.json: an endpoint without a row in EXPECTED
fails test_every_documented_endpoint_has_a_row, so a new endpoint is not covered by accident.
A row says how to build the request for an actor and scope, and which status each actor gets.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.services.users import _digest
from engine.store.model import ApiToken
from tests.helpers import rma_payload
from tests.web.access_world import CENTRE, COMPLETION, ROLES, SCOPES, TASK_ROLES, World, sqlite_world

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One database for the whole matrix (SQLite: what is checked here is the web layer's rules)."""
    with sqlite_world(tmp_path_factory.mktemp("matrix")) as made:
        yield made


# --- who gets what ----------------------------------------------------------------------------------


def sees(role: str, scope: str) -> bool:
    """Staff see their own centre; managers and owners without a centre see every centre."""
    return role.endswith(":all") or scope == "own"


def everyone(status: int):
    return lambda role, scope: status


def staff(status: int):
    return lambda role, scope: 401 if role == "anonymous" else status


def staff_seeing(role: str, scope: str) -> int:
    return 401 if role == "anonymous" else 200 if sees(role, scope) else 404


def task_worker(status: int):
    """Only the task's own role at the task's own centre may act on it; managers may not either."""
    return lambda role, scope: (
        401 if role == "anonymous" else status if (role in TASK_ROLES and scope == "own") else 403
    )


def rma_opener(role: str, scope: str) -> int:
    if role == "anonymous":
        return 401
    return 201 if (role in ("reception", "manager") and scope == "own") or role == "manager:all" else 403


def token_owner(status: int):
    """Scope `own` is the caller's own token; `other` is someone else's, which stays invisible (404)."""
    return lambda role, scope: 401 if role == "anonymous" else status if scope == "own" else 404


def right_token(status: int):
    """The portal's credential is the tracking token: the right one opens its RMA, a wrong one nothing."""
    return lambda role, scope: status if scope == "own" else 404


def customer_only(status: int):
    """The customer's own act (a quote decision): with any staff credential 403, otherwise by the right token."""
    return lambda role, scope: (status if scope == "own" else 404) if role == "anonymous" else 403


def _base(role: str) -> str:
    return role.split(":")[0]


def roles_only(roles: tuple, status: int):
    """Only these roles (any centre); what they get to see is checked by the row's `check`."""
    return lambda role, scope: 401 if role == "anonymous" else status if _base(role) in roles else 403


def roles_then_centre(roles: tuple, status: int):
    """Only these roles (403 for the others, whatever is asked for); for them another centre's thing is 404."""

    def expect(role, scope):
        if role == "anonymous":
            return 401
        return 403 if _base(role) not in roles else status if sees(role, scope) else 404

    return expect


def centre_addressed(roles: tuple, status: int):
    """A centre named in the request (like its loan pool): these roles of that centre, or of every centre."""
    return lambda role, scope: (
        401 if role == "anonymous" else status if (_base(role) in roles and sees(role, scope)) else 403
    )


OPERATORS = ("manager", "process_owner")  # engine.services.operations
VERSION_READERS = ("process_owner", "manager")  # engine.services.versions
DEPLOYERS = ("process_owner",)  # engine.services.processes
MANAGERS = ("manager",)  # dashboard, webhooks, cancelling an RMA


# --- how to ask -------------------------------------------------------------------------------------


@dataclass
class Ctx:
    world: World
    role: str
    scope: str

    @property
    def username(self) -> str | None:
        return ROLES[self.role]

    @property
    def centre(self) -> str:
        return CENTRE[self.scope]

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.world.token(self.username)}"} if self.username else {}

    def task(self, fresh: bool = False) -> dict:
        return self.world.open_task(self.centre, self.role, fresh=fresh)

    def tracking_token(self, stage: str = "received", fresh: bool = False) -> str:
        token = self.world.rma("SG", stage, fresh=fresh)["tracking_token"]
        # `other`: a guess that differs from a real token in its last character only
        return token if self.scope == "own" else token[:-1] + ("A" if token[-1] != "A" else "B")


@dataclass
class Row:
    build: Callable[[Ctx], dict]  # -> {"url", "json"?, "headers"?}
    expect: Callable[[str, str], int]
    check: Callable[[Ctx, dict, object], None] | None = None


def _me(ctx):
    return {"url": "/api/me"}


def _check_me(ctx, req, response):
    assert response.get_json()["username"] == ctx.username


def _token_request(ctx):
    if ctx.username and ctx.scope == "own":
        return {"url": "/api/auth/token", "json": {"username": ctx.username, "password": "demo"}, "headers": {}}
    return {
        "url": "/api/auth/token",
        "json": {"username": ctx.username or "nobody", "password": "wrong"},
        "headers": {},
    }


def _revoke(ctx):
    headers = {"Authorization": f"Bearer {ctx.world.token(ctx.username, fresh=True)}"} if ctx.username else {}
    return {"url": "/api/auth/revoke", "headers": headers}


def _check_tokens(ctx, req, response):
    listed = response.get_json()
    with ctx.world.orc.uow() as uow:
        owners = {
            t.id: t.user_id for t in uow.session.query(ApiToken).filter(ApiToken.id.in_([t["id"] for t in listed]))
        }
    me = ctx.world.actor(ctx.username).user_id
    assert listed and set(owners.values()) == {me}, "a token list shows only the caller's own tokens"
    assert sum(t["current"] for t in listed) == 1


def _delete_token(ctx):
    owner = ctx.username if ctx.scope == "own" and ctx.username else "de.reception"
    token = ctx.world.token(owner, fresh=True)
    with ctx.world.orc.uow() as uow:
        token_id = uow.session.query(ApiToken.id).filter(ApiToken.token_hash == _digest(token)).scalar()
    return {"url": f"/api/auth/tokens/{token_id}"}


def _rma_list(ctx):
    rma = ctx.world.rma(ctx.centre, "received")
    return {"url": f"/api/rmas?q={rma['number']}", "rma": rma}


def _check_rma_listed(ctx, req, response):
    numbers = [r["number"] for r in response.get_json()["items"]]
    assert (req["rma"]["number"] in numbers) == sees(ctx.role, ctx.scope), numbers


def _task_list(ctx):
    task = ctx.task()
    return {"url": f"/api/tasks?rma_id={task['rma_id']}", "task": task}


def _check_task_listed(ctx, req, response):
    ids = [t["id"] for t in response.get_json()["items"]]
    works = ctx.role in TASK_ROLES and ctx.scope == "own"
    manages = ctx.role.startswith("manager") and sees(ctx.role, ctx.scope)
    assert (req["task"]["id"] in ids) == (works or manages), ids


def _complete(ctx):
    task = ctx.task(fresh=True)
    return {"url": f"/api/tasks/{task['id']}/complete", "json": {"data": COMPLETION[task["name"]]}}


def _versions(ctx):
    return {"url": "/api/processes", "centre": ctx.centre}


def _check_versions(ctx, req, response):
    centres = [group["centre"] for group in response.get_json()["centres"]]
    assert centres[0] is None, "the base processes come first, for everyone who may read versions"
    assert (req["centre"] in centres) == sees(ctx.role, ctx.scope), centres


def _version(ctx):
    return {"url": f"/api/processes/{ctx.world.variant_version(ctx.centre)}?centre={ctx.centre}"}


def _version_file(ctx):
    return {
        "url": f"/api/processes/{ctx.world.variant_version(ctx.centre)}/files/forms/qa_check.json?centre={ctx.centre}"
    }


_edits = itertools.count(1)


def _upload(ctx, url):
    """A partial upload for the scope's centre: its qa_check form with a description never deployed before."""
    form = json.loads(ctx.world.current_files(ctx.centre)["forms/qa_check.json"])
    form["description"] = f"Checked by the access matrix, edit {next(_edits)}"
    return {
        "url": url,
        "data": {
            "files": [(io.BytesIO(json.dumps(form).encode()), "qa_check.json")],
            "centre": ctx.centre,
            "note": "access matrix",
        },
    }


def _migrate(ctx):
    version, rma = ctx.world.variant_version(ctx.centre), ctx.world.rma(ctx.centre, "received")
    return {"url": f"/api/processes/{version}/migrate?centre={ctx.centre}", "json": {"rma_ids": [rma["id"]]}}


def _incidents(ctx):
    return {"url": "/api/incidents", "rma": ctx.world.incident(ctx.centre)}


def _check_incidents(ctx, req, response):
    numbers = [i["rma_number"] for i in response.get_json()["items"]]
    assert (req["rma"]["number"] in numbers) == sees(ctx.role, ctx.scope), numbers


def _check_retried(ctx, req, response):
    body = response.get_json()
    assert body["rma"]["status"] == "incident" and body["incident"]["status"] == "open"  # the cause is still there


def _undelivered(ctx):
    return {"url": "/api/outbox/undelivered", "message": ctx.world.undelivered(ctx.centre)}


def _check_undelivered(ctx, req, response):
    ids = [m["id"] for m in response.get_json()]
    assert (req["message"] in ids) == sees(ctx.role, ctx.scope), ids


def _dashboard(ctx):
    ctx.world.rma(ctx.centre, "received")
    return {"url": f"/api/dashboard?centre={ctx.centre}"}


def _check_dashboard(ctx, req, response):
    """A centre's manager asking for another centre gets the figures of their own centre, never the other's."""
    body = response.get_json()
    shown = ctx.centre if sees(ctx.role, ctx.scope) else CENTRE["own"]
    assert body["centre"] == shown and body["by_status"], body
    assert {row["centre"] for row in body["by_status"]} == {shown}


def _webhooks(ctx):
    return {"url": "/api/webhooks", "sub": ctx.world.subscription(ctx.centre)}


def _check_webhooks(ctx, req, response):
    ids = [sub["id"] for sub in response.get_json()]
    assert (req["sub"]["id"] in ids) == sees(ctx.role, ctx.scope), ids


def _check_subscribed(ctx, req, response):
    body = response.get_json()
    assert body["centre"] == ctx.centre and body["secret"]


def _check_portal(ctx, req, response):
    assert response.get_json()["number"] == ctx.world.rma("SG", "received")["number"]


EXPECTED: dict[tuple[str, str], Row] = {
    ("get", "/api/health"): Row(lambda ctx: {"url": "/api/health"}, everyone(200)),
    ("post", "/api/auth/token"): Row(
        _token_request, lambda role, scope: 200 if role != "anonymous" and scope == "own" else 401
    ),
    ("post", "/api/auth/revoke"): Row(_revoke, staff(204)),
    ("get", "/api/auth/tokens"): Row(lambda ctx: {"url": "/api/auth/tokens"}, staff(200), _check_tokens),
    ("delete", "/api/auth/tokens/{token_id}"): Row(_delete_token, token_owner(204)),
    ("get", "/api/me"): Row(_me, staff(200), _check_me),
    ("get", "/api/centres"): Row(lambda ctx: {"url": "/api/centres"}, staff(200)),
    ("get", "/api/rmas"): Row(_rma_list, staff(200), _check_rma_listed),
    ("post", "/api/rmas"): Row(lambda ctx: {"url": "/api/rmas", "json": rma_payload(centre=ctx.centre)}, rma_opener),
    ("get", "/api/rmas/{rma_id}"): Row(
        lambda ctx: {"url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'received')['id']}"}, staff_seeing
    ),
    ("get", "/api/tasks"): Row(_task_list, staff(200), _check_task_listed),
    ("get", "/api/tasks/{task_id}"): Row(lambda ctx: {"url": f"/api/tasks/{ctx.task()['id']}"}, staff_seeing),
    ("post", "/api/tasks/{task_id}/claim"): Row(
        lambda ctx: {"url": f"/api/tasks/{ctx.task(fresh=True)['id']}/claim"}, task_worker(200)
    ),
    ("post", "/api/tasks/{task_id}/unclaim"): Row(
        lambda ctx: {"url": f"/api/tasks/{ctx.task(fresh=True)['id']}/unclaim"}, task_worker(200)
    ),
    ("post", "/api/tasks/{task_id}/complete"): Row(_complete, task_worker(200)),
    ("get", "/api/portal/{tracking_token}"): Row(
        lambda ctx: {"url": f"/api/portal/{ctx.tracking_token()}"}, right_token(200), _check_portal
    ),
    ("post", "/api/portal/{tracking_token}/decision"): Row(
        lambda ctx: {
            "url": f"/api/portal/{ctx.tracking_token('awaiting_approval', fresh=True)}/decision",
            "json": {"approve": True},
        },
        customer_only(200),
    ),
    # process owners: scope `own` is the variant of the caller's centre, `other` another centre's
    ("get", "/api/processes"): Row(_versions, roles_only(VERSION_READERS, 200), _check_versions),
    ("get", "/api/processes/{version}"): Row(_version, centre_addressed(VERSION_READERS, 200)),
    ("get", "/api/processes/{version}/files/{name}"): Row(_version_file, centre_addressed(VERSION_READERS, 200)),
    ("post", "/api/processes/deploy"): Row(
        lambda ctx: _upload(ctx, "/api/processes/deploy"), centre_addressed(DEPLOYERS, 201)
    ),
    ("post", "/api/processes/validate"): Row(
        lambda ctx: _upload(ctx, "/api/processes/validate"), centre_addressed(DEPLOYERS, 200)
    ),
    ("post", "/api/processes/{version}/migrate"): Row(_migrate, centre_addressed(DEPLOYERS, 200)),
    # operations: the role first (403 whatever the id), then the centre (404)
    ("get", "/api/incidents"): Row(_incidents, roles_only(OPERATORS, 200), _check_incidents),
    ("post", "/api/incidents/{rma_id}/retry"): Row(
        lambda ctx: {"url": f"/api/incidents/{ctx.world.incident(ctx.centre)['id']}/retry", "json": {}},
        roles_then_centre(OPERATORS, 200),
        _check_retried,
    ),
    # a message to the process (engine.services.process_messages): staff of the RMA's centre; this RMA waits for
    # a task, not for the message, so whoever may deliver gets 409 (the 202 is in test_runtime_incidents_and_messages)
    ("post", "/api/rmas/{rma_id}/messages/{message_name}"): Row(
        lambda ctx: {
            "url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'received')['id']}/messages/customs_cleared",
            "json": {"data": {"cleared": True}},
        },
        roles_then_centre(("reception", "technician", "qa", "process_owner", "manager"), 409),
    ),
    ("post", "/api/rmas/{rma_id}/cancel"): Row(
        lambda ctx: {
            "url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'received', fresh=True)['id']}/cancel",
            "json": {"reason": "Customer withdrew the repair"},
        },
        roles_then_centre(MANAGERS, 200),
    ),
    ("get", "/api/outbox/undelivered"): Row(_undelivered, roles_only(OPERATORS, 200), _check_undelivered),
    ("post", "/api/outbox/{message_id}/requeue"): Row(
        lambda ctx: {"url": f"/api/outbox/{ctx.world.undelivered(ctx.centre)}/requeue"},
        roles_then_centre(OPERATORS, 200),
    ),
    ("get", "/api/dashboard"): Row(_dashboard, roles_only(MANAGERS, 200), _check_dashboard),
    # webhooks: managers; a centre's manager subscribes to and sees that centre's subscriptions only
    ("post", "/api/webhooks"): Row(
        lambda ctx: {"url": "/api/webhooks", "json": {"url": "https://erp.example.com/rma", "centre": ctx.centre}},
        centre_addressed(MANAGERS, 201),
        _check_subscribed,
    ),
    ("get", "/api/webhooks"): Row(_webhooks, roles_only(MANAGERS, 200), _check_webhooks),
    ("delete", "/api/webhooks/{sub_id}"): Row(
        lambda ctx: {"url": f"/api/webhooks/{ctx.world.subscription(ctx.centre)['id']}"},
        roles_then_centre(MANAGERS, 204),
    ),
    ("get", "/api/webhooks/{sub_id}/deliveries"): Row(
        lambda ctx: {"url": f"/api/webhooks/{ctx.world.subscription(ctx.centre)['id']}/deliveries"},
        roles_then_centre(MANAGERS, 200),
    ),
}

# The customer's side (issue 4) keeps its rows beside its endpoints' tests.
from tests.web.customer_access_rows import ROWS as _CUSTOMER_ROWS  # noqa: E402

EXPECTED.update({endpoint: Row(build, expect) for endpoint, (build, expect) in _CUSTOMER_ROWS.items()})
# Online requests, the centre finder, parcels, the catalogue and goodwill keep theirs beside their world.
from tests.web.request_access_rows import ROWS as _REQUEST_ROWS  # noqa: E402

EXPECTED.update({endpoint: Row(*row) for endpoint, row in _REQUEST_ROWS.items()})
# Partner organisations and batches (issue 17) keep theirs beside their world.
from tests.web.partner_access_rows import ROWS as _PARTNER_ROWS  # noqa: E402

EXPECTED.update({endpoint: Row(*row) for endpoint, row in _PARTNER_ROWS.items()})
# A batch's parcels and quotes and the register of units sold (issue 17, points 3-5).
from tests.web.batch_parcel_access_rows import ROWS as _BATCH_PARCEL_ROWS  # noqa: E402

EXPECTED.update({endpoint: Row(*row) for endpoint, row in _BATCH_PARCEL_ROWS.items()})


def test_every_documented_endpoint_has_a_row(world):
    doc = world.client.get("/api/openapi.json").get_json()
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops if method in METHODS}
    missing, stale = sorted(documented - set(EXPECTED)), sorted(set(EXPECTED) - documented)
    assert not missing, (
        "endpoints with no access expectations: add a row to EXPECTED in "
        f"tests/web/test_access_matrix.py for each of {missing}"
    )
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("endpoint", list(EXPECTED), ids=lambda e: f"{e[0].upper()} {e[1]}")
def test_access(world, endpoint, role, scope):
    ctx = Ctx(world, role, scope)
    row = EXPECTED[endpoint]
    req = row.build(ctx)
    headers = req.get("headers", ctx.headers())
    response = world.client.open(
        req["url"],
        method=endpoint[0].upper(),
        json=req.get("json"),
        data=req.get("data"),
        headers=headers,
        environ_base={"REMOTE_ADDR": world.address()},
    )
    expected = row.expect(role, scope)
    assert response.status_code == expected, (role, scope, req["url"], response.get_json())
    if expected >= 400:
        assert response.get_json()["code"] and response.get_json()["message"]
    elif expected == 204:
        assert not response.get_data()
    elif row.check is not None:
        row.check(ctx, req, response)
