"""Access expectations for before-the-repair endpoints (online requests, centre finder, parcels, catalogue)
and goodwill, merged into tests/web/test_access_matrix.py.

Each row: (build, expect, check or None). The request endpoints are public: the tracking token in the URL
is the credential, so scope `own` is the right token and `other` a guess one character off (404).
"""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta
from urllib.parse import quote

from engine.actors import Actor
from engine.services import catalogue
from tests.web.access_world import PROOF, REQUEST_MODEL

_names = itertools.count(1)
MANAGERS = ("manager",)  # goodwill summary
RECEIVERS = ("reception", "manager")  # engine.services.parcels
PROPOSERS = ("reception", "technician", "manager")  # engine.services.goodwill


def _base(role: str) -> str:
    return role.split(":")[0]


def _sees(role: str, scope: str) -> bool:
    return role.endswith(":all") or scope == "own"


def _everyone(status: int):
    return lambda role, scope: status


def _right_token(status: int):
    return lambda role, scope: status if scope == "own" else 404


def _staff_seeing(role, scope):
    return 401 if role == "anonymous" else 200 if _sees(role, scope) else 404


def _roles_only(roles: tuple, status: int):
    """The catalogue is the company's, not a centre's: the role decides, whichever centre asks."""
    return lambda role, scope: 401 if role == "anonymous" else status if _base(role) in roles else 403


def _company_managers(status: int):
    """Changing the company's catalogue takes a manager without a centre; a centre's manager only reads it."""
    return lambda role, scope: 401 if role == "anonymous" else status if role == "manager:all" else 403


def _roles_then_centre(roles: tuple, status: int):
    """The role first (403 whatever is asked for), then another centre's RMA is not found (404)."""

    def expect(role, scope):
        if role == "anonymous":
            return 401
        return 403 if _base(role) not in roles else status if _sees(role, scope) else 404

    return expect


def _token(ctx, token: str) -> str:
    # `other`: a guess that differs from a real token in its last character only
    return token if ctx.scope == "own" else token[:-1] + ("A" if token[-1] != "A" else "B")


# --- online requests and the centre finder (public) --------------------------------------------------


def _submit(ctx):
    form = {
        "centre": ctx.centre,
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": "en",
        "model": REQUEST_MODEL["model"],
        "serial_number": f"SN-W{next(_names)}",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not power on",
        "proof_of_purchase": (io.BytesIO(PROOF), "receipt.pdf"),
    }
    return {"url": "/api/requests", "data": form}


def _check_submitted(ctx, req, response):
    body = response.get_json()
    assert body["centre"] == ctx.centre and body["status"] == "requested" and body["tracking_token"]


def _request_view(ctx):
    return {"url": f"/api/requests/{_token(ctx, ctx.world.request('SG')['tracking_token'])}"}


def _check_request_view(ctx, req, response):
    assert response.get_json()["number"] == ctx.world.request("SG")["number"]


def _troubleshooting(ctx):
    token = ctx.world.request("SG", fresh=True)["tracking_token"]
    return {"url": f"/api/requests/{_token(ctx, token)}/troubleshooting", "json": {"troubleshoot_solved": False}}


def _choice(ctx):
    token = ctx.world.rma("SG", "awaiting_approval", fresh=True)["tracking_token"]
    return {"url": f"/api/requests/{_token(ctx, token)}/choice", "json": {"choice": "decline"}}


# --- reception books parcels in ----------------------------------------------------------------------


def _parcel(ctx):
    number = ctx.world.request(ctx.centre, "awaiting_parcel", fresh=True)["number"]
    return {"url": "/api/parcels", "json": {"number": number}}


# --- the catalogue -----------------------------------------------------------------------------------


def _model(name: str | None = None) -> dict:
    return {**REQUEST_MODEL, "model": name or f"Matrix Model {next(_names)}", "known_issues": []}


def _delete_model(ctx):
    saved = catalogue.save_model(ctx.world.orc, Actor("matrix", "manager"), _model())
    return {"url": f"/api/catalogue/{quote(saved['model'])}"}


def _import(ctx):
    n = next(_names)
    csv = f"model,category,warranty_months,replacement_value,currency\nMatrix Import {n},camera,12,250,SGD\n"
    return {"url": "/api/catalogue/import", "data": {"file": (io.BytesIO(csv.encode()), "models.csv")}}


# --- goodwill ----------------------------------------------------------------------------------------


def _propose(ctx):
    rma = ctx.world.rma(ctx.centre, "awaiting_approval", fresh=True)
    return {
        "url": f"/api/rmas/{rma['id']}/goodwill",
        "json": {"kind": "discount", "reason": "A loyal customer", "amount": "10.00"},
    }


def _summary(ctx):
    return {"url": "/api/goodwill/summary", "rma": ctx.world.goodwill(ctx.centre)}


def _check_summary(ctx, req, response):
    """A centre's manager sees the sums of their own centre only."""
    centres = {row["centre"] for row in response.get_json()}
    assert (ctx.centre in centres) == _sees(ctx.role, ctx.scope), centres


ROWS = {
    ("post", "/api/requests"): (_submit, _everyone(201), _check_submitted),
    ("get", "/api/centres/nearby"): (lambda ctx: {"url": "/api/centres/nearby?near=Berlin"}, _everyone(200), None),
    ("get", "/api/requests/{tracking_token}"): (_request_view, _right_token(200), _check_request_view),
    ("post", "/api/requests/{tracking_token}/troubleshooting"): (_troubleshooting, _right_token(200), None),
    ("post", "/api/requests/{tracking_token}/choice"): (_choice, _right_token(200), None),
    ("post", "/api/parcels"): (_parcel, _roles_then_centre(RECEIVERS, 200), None),
    ("get", "/api/catalogue"): (lambda ctx: {"url": "/api/catalogue?q=matrix"}, _everyone(200), None),
    ("post", "/api/catalogue"): (lambda ctx: {"url": "/api/catalogue", "json": _model()}, _company_managers(200), None),
    ("delete", "/api/catalogue/{model}"): (_delete_model, _company_managers(204), None),
    ("post", "/api/catalogue/import"): (_import, _company_managers(200), None),
    ("post", "/api/rmas/{rma_id}/goodwill"): (_propose, _roles_then_centre(PROPOSERS, 201), None),
    ("get", "/api/rmas/{rma_id}/goodwill"): (
        lambda ctx: {"url": f"/api/rmas/{ctx.world.goodwill(ctx.centre)['id']}/goodwill"},
        _staff_seeing,
        None,
    ),
    ("get", "/api/goodwill/summary"): (_summary, _roles_only(MANAGERS, 200), _check_summary),
}
