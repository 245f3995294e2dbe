"""Flask app factory: blueprints per audience over one engine Orchestrator."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine import Orchestrator, Settings
from engine.config import resolve_secret_key

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` may carry RMA_SETTINGS (a Settings) or RMA_ORCHESTRATOR and Flask keys."""
    app = Flask(__name__, instance_relative_config=True)
    config = dict(config or {})
    orc = config.pop("RMA_ORCHESTRATOR", None)
    settings = config.pop("RMA_SETTINGS", None) or (orc.settings if orc else Settings.from_env())
    orc = orc or Orchestrator(settings)
    app.config.update(
        SECRET_KEY=resolve_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=4),  # idle: each request extends it, up to RMA_SESSION_MAX_AGE
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        RMA_SETTINGS=settings,
        API_TITLE="RMA orchestrator API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=None,
        OPENAPI_REDOC_PATH=None,
    )
    app.config.update(config)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.extensions["rma"] = orc
    csrf.init_app(app)

    from . import converters, errors, json_body
    from .api import register_api
    from .auth import register_auth
    from .ops import bp as ops_bp  # dashboard, operations
    from .owners import bp as owners_bp  # process owners
    from .partners import bp as partner_bp  # partner portal and organisations (issue 17)
    from .portal import bp as portal_bp
    from .requests import bp as requests_bp  # online requests
    from .staff import bp as staff_bp

    converters.install(app)  # before any route is added
    json_body.install(app)  # request bodies are read with web.json_body.loads
    errors.register(app)
    register_auth(app)
    register_api(app)
    for blueprint in (staff_bp, portal_bp, ops_bp, owners_bp, requests_bp, partner_bp):
        app.register_blueprint(blueprint)
    return app
