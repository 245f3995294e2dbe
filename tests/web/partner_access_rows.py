"""Access expectations for partner organisations and batches (issue 17), merged into
tests/web/test_access_matrix.py. The matrix's staff roles only: what a partner's own token may do is in
tests/web/test_api_partners_batches.py (its organisation's things 200, everything else 404 or 403)."""

from __future__ import annotations

import itertools

from engine.actors import Actor
from engine.services import batches, partners
from tests.web.access_world import REQUEST_MODEL

_names = itertools.count(1)
ORG_READERS = ("manager", "reception")  # engine.services.partners.visible_organisation
BATCH_OPENERS = ("reception", "manager")  # and partners, for their own organisation
BATCH_READERS = ("reception", "technician", "qa", "manager")  # and partners


def _base(role: str) -> str:
    return role.split(":")[0]


def _sees(role: str, scope: str) -> bool:
    return role.endswith(":all") or scope == "own"


def _org(ctx) -> dict:
    """One organisation per centre, with one batch of one unit."""
    cache = ctx.world.__dict__.setdefault("_partner_orgs", {})
    if ctx.centre not in cache:
        manager = Actor("matrix", "manager")
        org = partners.create_organisation(
            ctx.world.orc,
            manager,
            {"name": f"Matrix {ctx.centre}", "type": "dealer", "centre": ctx.centre, "contact_email": "m@x.example"},
        )
        batch = batches.open_batch(ctx.world.orc, manager, _batch_body(ctx.centre, org["id"]))
        cache[ctx.centre] = {**org, "batch": batch}
    return cache[ctx.centre]


def _batch_body(centre: str, org_id: int) -> dict:
    unit = {"model": REQUEST_MODEL["model"], "serial_number": f"MX-{next(_names)}", "fault_description": "Dead"}
    return {"centre": centre, "organisation": org_id, "units": [unit]}


def _org_readers(status: int):
    """Managers and reception of the organisation's centre (or of every centre); for anyone else it is not there."""

    def expect(role, scope):
        if role == "anonymous":
            return 401
        return status if _base(role) in ORG_READERS and _sees(role, scope) else 404

    return expect


def _centre_roles(roles: tuple, status: int):
    """These roles of the centre named (or of every centre); 403 for the rest."""
    return lambda role, scope: (
        401 if role == "anonymous" else status if (_base(role) in roles and _sees(role, scope)) else 403
    )


def _roles_only(roles: tuple, status: int):
    return lambda role, scope: 401 if role == "anonymous" else status if _base(role) in roles else 403


def _batch_readers(role, scope):
    if role == "anonymous":
        return 401
    return 200 if _base(role) in BATCH_READERS and _sees(role, scope) else 404


def _new_org(ctx):
    n = next(_names)
    return {
        "url": "/api/organisations",
        "json": {"name": f"New {n}", "type": "installer", "centre": ctx.centre, "contact_email": "n@x.example"},
    }


def _check_listed(ctx, req, response):
    centres = {o["centre"] for o in response.get_json()}
    assert centres <= ({"SG", "DE"} if ctx.role.endswith(":all") else {"SG"}), centres


def _check_batches(ctx, req, response):
    centres = {b["centre"] for b in response.get_json()["items"]}
    assert centres <= ({"SG", "DE"} if ctx.role.endswith(":all") else {"SG"}), centres


ROWS = {
    ("post", "/api/organisations"): (_new_org, _centre_roles(("manager",), 201), None),
    ("get", "/api/organisations"): (
        lambda ctx: {"url": "/api/organisations", "org": _org(ctx)},
        _roles_only(ORG_READERS, 200),
        _check_listed,
    ),
    ("get", "/api/organisations/{org_id}"): (
        lambda ctx: {"url": f"/api/organisations/{_org(ctx)['id']}"},
        _org_readers(200),
        None,
    ),
    ("post", "/api/organisations/{org_id}/users"): (
        lambda ctx: {
            "url": f"/api/organisations/{_org(ctx)['id']}/users",
            "json": {"username": f"matrix.partner{next(_names)}", "password": "matrix-pass"},
        },
        _centre_roles(("manager",), 201),
        None,
    ),
    ("get", "/api/organisations/{org_id}/rmas"): (
        lambda ctx: {"url": f"/api/organisations/{_org(ctx)['id']}/rmas"},
        _org_readers(200),
        None,
    ),
    ("get", "/api/organisations/{org_id}/rmas/{rma_id}"): (
        lambda ctx: {"url": f"/api/organisations/{_org(ctx)['id']}/rmas/{_org(ctx)['batch']['units'][0]['rma_id']}"},
        _org_readers(200),
        None,
    ),
    ("get", "/api/organisations/{org_id}/figures"): (
        lambda ctx: {"url": f"/api/organisations/{_org(ctx)['id']}/figures"},
        _org_readers(200),
        None,
    ),
    ("post", "/api/batches"): (
        lambda ctx: {"url": "/api/batches", "json": _batch_body(ctx.centre, _org(ctx)["id"])},
        _centre_roles(BATCH_OPENERS, 201),
        None,
    ),
    ("get", "/api/batches"): (
        lambda ctx: {"url": "/api/batches", "org": _org(ctx)},
        _roles_only(BATCH_READERS, 200),
        _check_batches,
    ),
    ("get", "/api/batches/{batch_id}"): (
        lambda ctx: {"url": f"/api/batches/{_org(ctx)['batch']['id']}"},
        _batch_readers,
        None,
    ),
}
