"""The JSON API: flask-smorest blueprints, documented at /api/openapi.json."""

from __future__ import annotations

from pathlib import Path

from flask_smorest import Api

from web.schemas import ErrorSchema

from . import (
    auth,
    batch_parcels,
    batches,
    catalogue,
    customer,
    goodwill,
    meta,
    operations,
    partners,
    portal,
    processes,
    register,
    requests,
    rmas,
    tasks,
    webhooks,
)

BLUEPRINTS = (
    meta.blp,
    auth.blp,
    rmas.blp,
    tasks.blp,
    portal.blp,
    customer.blp,
    processes.blp,
    operations.blp,
    webhooks.blp,
    requests.blp,
    requests.parcels_blp,
    catalogue.blp,
    goodwill.blp,
    partners.blp,
    batches.blp,
    batch_parcels.blp,
    register.blp,
)


class RmaApi(Api):
    """flask-smorest's Api, keeping the app's one error shape `{code, message, errors?}`."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # web.errors already answers every HTTPException, webargs' 422 included; flask-smorest's
        # handler would replace it app-wide with a different payload ({code: 422, status, errors}).
        pass


def register_api(app) -> None:
    """Register the API blueprints (CSRF-exempt: they take bearer tokens) and the OpenAPI document."""
    from web import csrf

    _serve_local_swagger_ui(app)
    api = RmaApi(
        app,
        spec_kwargs={
            "info": {
                "description": "RMA orchestrator: open RMAs, work the task inbox, "
                "and let customers track and approve quotes."
            }
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/auth/token, sent as `Authorization: Bearer <token>`",
        },
    )
    # The portal's schemas grew (customer's side) but keep their documented names: clients generated
    # from the document know them as PortalView and Decision.
    api.spec.components.schema("PortalView", schema=customer.CustomerPortalViewSchema)
    api.spec.components.schema("Decision", schema=customer.PortalDecisionSchema)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
        csrf.exempt(blp)
    app.extensions["rma_api"] = api


def _serve_local_swagger_ui(app) -> None:
    """Interactive docs only from locally installed assets (web/static/swagger-ui/): never a CDN."""
    local = Path(app.static_folder or "") / "swagger-ui"
    if app.config.get("OPENAPI_SWAGGER_UI_URL") is None and (local / "swagger-ui-bundle.js").is_file():
        app.config["OPENAPI_SWAGGER_UI_URL"] = f"{app.static_url_path}/swagger-ui/"
