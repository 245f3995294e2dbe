"""Access expectations for a batch's parcels and quotes and the register of units sold (issue 17, points 3-5),
merged into tests/web/test_access_matrix.py. A partner's own token is in tests/web/test_api_batch_parcels.py."""

from __future__ import annotations

import io
import itertools
from datetime import date

from engine.actors import Actor
from engine.services import register
from tests.web.partner_access_rows import _base, _batch_readers, _org, _sees

_serials = itertools.count(1)
RECEIVERS = ("reception", "manager")  # engine.services.batch_parcels.RECEIVING_ROLES
REGISTER_READERS = ("reception", "technician", "qa", "manager")  # engine.services.register.READER_ROLES
TODAY = date.today().isoformat()


def _receivers(status: int):
    """The role first (403 whatever is asked for), then another centre's batch is not found (404)."""

    def expect(role, scope):
        if role == "anonymous":
            return 401
        return 403 if _base(role) not in RECEIVERS else status if _sees(role, scope) else 404

    return expect


def _roles(roles: tuple, status: int):
    return lambda role, scope: 401 if role == "anonymous" else status if _base(role) in roles else 403


def _batch(ctx) -> dict:
    return _org(ctx)["batch"]


def _registered(ctx) -> str:
    serial = f"MX-REG-{next(_serials)}"
    register.import_units(
        ctx.world.orc, Actor("matrix", "manager"), [{"serial_number": serial, "model": "M", "ship_date": TODAY}]
    )
    return serial


def _csv(ctx):
    body = f"serial_number,model,ship_date\nMX-CSV-{next(_serials)},M,{TODAY}\n".encode()
    return {"url": "/api/register/import", "data": {"file": (io.BytesIO(body), "units.csv")}}


ROWS = {
    ("post", "/api/batches/{batch_id}/arrivals"): (
        # a serial of no unit: recorded as unexpected, nothing moves
        lambda ctx: {"url": f"/api/batches/{_batch(ctx)['id']}/arrivals", "json": {"scans": ["MX-NOBODY"]}},
        _receivers(200),
        None,
    ),
    ("post", "/api/batches/{batch_id}/shipments"): (
        # the batch's unit is still awaited, so for those who may ship it is not ready: 409
        lambda ctx: {
            "url": f"/api/batches/{_batch(ctx)['id']}/shipments",
            "json": {"rma_ids": [_batch(ctx)["units"][0]["rma_id"]], "carrier": "DHL", "tracking_number": "MX1"},
        },
        _receivers(409),
        None,
    ),
    ("get", "/api/batches/{batch_id}/parcels"): (
        lambda ctx: {"url": f"/api/batches/{_batch(ctx)['id']}/parcels"},
        _batch_readers,
        None,
    ),
    ("post", "/api/batches/{batch_id}/quotes"): (
        # only the partner decides (the customer-approval gate): every staff role is refused
        lambda ctx: {"url": f"/api/batches/{_batch(ctx)['id']}/quotes", "json": {"all": True}},
        lambda role, scope: 401 if role == "anonymous" else 403,
        None,
    ),
    ("post", "/api/register/units"): (
        lambda ctx: {
            "url": "/api/register/units",
            "json": {"units": [{"serial_number": f"MX-NEW-{next(_serials)}", "model": "M", "ship_date": TODAY}]},
        },
        _roles(("manager",), 200),
        None,
    ),
    ("get", "/api/register/units"): (lambda ctx: {"url": "/api/register/units"}, _roles(REGISTER_READERS, 200), None),
    ("get", "/api/register/units/{serial}"): (
        lambda ctx: {"url": f"/api/register/units/{_registered(ctx)}"},
        _roles(REGISTER_READERS, 200),
        None,
    ),
    ("post", "/api/register/import"): (_csv, _roles(("manager",), 200), None),
}
