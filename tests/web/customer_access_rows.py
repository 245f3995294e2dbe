"""Access expectations for the customer's-side API endpoints, merged into tests/web/test_access_matrix.py."""

from __future__ import annotations

import itertools

from engine.actors import Actor
from engine.services import loans

_codes = itertools.count(1)
LENDERS = ("reception", "manager")


def _lender(status: int):
    """Reception or a manager of the RMA's centre (or a manager of all centres); others 403, unseen 404."""

    def expect(role, scope):
        if role == "anonymous":
            return 401
        if role == "manager:all" or (role in LENDERS and scope == "own"):
            return status
        if scope == "other" and not role.endswith(":all"):
            return 404
        return 403

    return expect


def _pool_reader(role, scope):
    return 401 if role == "anonymous" else 200 if (scope == "own" or role.endswith(":all")) else 403


def _pool_keeper(role, scope):
    if role == "anonymous":
        return 401
    return 201 if role == "manager:all" or (role in LENDERS and scope == "own") else 403


def _staff_seeing(role, scope):
    return 401 if role == "anonymous" else 200 if (role.endswith(":all") or scope == "own") else 404


def _unit(ctx) -> dict:
    return loans.add_unit(ctx.world.orc, Actor("matrix", "manager"), ctx.centre, f"L-{next(_codes)}", "Loaner cam")


def _issue(ctx):
    rma = ctx.world.rma(ctx.centre, "received", fresh=True)
    return {"url": f"/api/rmas/{rma['id']}/loans", "json": {"unit_id": _unit(ctx)["id"]}}


def _return(ctx):
    rma = ctx.world.rma(ctx.centre, "received", fresh=True)
    loans.issue(ctx.world.orc, Actor("matrix", "manager"), rma["id"], _unit(ctx)["id"])
    return {"url": f"/api/rmas/{rma['id']}/loans/return"}


def _photos_expect(role, scope):
    """No file in the matrix's JSON request: those allowed get 422 (no photo), after the access checks."""
    return _lender(422)(role, scope)


ROWS = {
    ("post", "/api/rmas/{rma_id}/photos"): (
        lambda ctx: {"url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'received')['id']}/photos"},
        _photos_expect,
    ),
    ("get", "/api/rmas/{rma_id}/customer-side"): (
        lambda ctx: {"url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'received')['id']}/customer-side"},
        _staff_seeing,
    ),
    ("get", "/api/rmas/{rma_id}/receipt.pdf"): (
        lambda ctx: {"url": f"/api/rmas/{ctx.world.rma(ctx.centre, 'diagnosing')['id']}/receipt.pdf"},
        _staff_seeing,
    ),
    ("post", "/api/rmas/{rma_id}/loans"): (_issue, _lender(201)),
    ("post", "/api/rmas/{rma_id}/loans/return"): (_return, _lender(200)),
    ("get", "/api/centres/{centre}/loan-units"): (
        lambda ctx: {"url": f"/api/centres/{ctx.centre}/loan-units"},
        _pool_reader,
    ),
    ("post", "/api/centres/{centre}/loan-units"): (
        lambda ctx: {
            "url": f"/api/centres/{ctx.centre}/loan-units",
            "json": {"code": f"A-{next(_codes)}", "model": "Loaner cam"},
        },
        _pool_keeper,
    ),
    ("post", "/api/portal/{tracking_token}/sms"): (
        lambda ctx: {"url": f"/api/portal/{ctx.tracking_token()}/sms", "json": {"opt_out": True}},
        # the customer's own choice: any staff credential is 403 (as for the quote decision)
        lambda role, scope: (200 if scope == "own" else 404) if role == "anonymous" else 403,
    ),
}
