"""Request guards every audience shares: throttled tracking-token guesses and protective headers (CSP, no-store)."""

from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

from engine.services import throttle

# What a partner's session may open (issue 17): its portal, logging in and out, static files, the public pages;
# the API's views check a partner's credentials one by one (web.api.common.caller). Every staff, owner and
# operations page is 404 to a partner, as if it did not exist.
PARTNER_BLUEPRINTS = frozenset({"partner", "auth", "static", "portal", "requests"})
# Blueprints whose URLs carry a tracking token: a 404 there is a wrong guess.
PORTAL_BLUEPRINTS = frozenset({"portal", "api_portal", "requests", "api_requests"})
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Tracking tokens and task ids are in our URLs: never hand them to another site in a Referer.
    "Referrer-Policy": "same-origin",
    # Only our own files run: no inline script, no on* handler, no eval (bpmn-js needs none). Styles allow
    # 'unsafe-inline' deliberately: bpmn-js writes style attributes and <style> elements as it draws, and a few
    # pages carry a <style> block; a style cannot run code. img-src: data: and blob: for bpmn-js's icons and
    # the modeler's image export.
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    ),
}


def _portal_key() -> str:
    return throttle.portal_address_key(request.remote_addr)


def register(app) -> None:
    @app.before_request
    def _partners_stay_in_their_portal():
        blueprint = request.blueprint
        if blueprint is None or blueprint in PARTNER_BLUEPRINTS or blueprint.startswith("api"):
            return
        if current_user.is_authenticated and current_user.actor.is_partner:
            if request.endpoint == "staff.home":  # the site's front door
                return redirect(url_for("partner.home"))
            abort(404)
        return None

    @app.before_request
    def _refuse_locked_out_guesser():
        if request.blueprint in PORTAL_BLUEPRINTS:
            throttle.check(current_app.extensions["rma"], _portal_key())

    @app.after_request
    def _count_wrong_tokens_and_protect(response):
        if request.blueprint in PORTAL_BLUEPRINTS and response.status_code == 404:
            try:
                throttle.hit(current_app.extensions["rma"], {_portal_key(): throttle.PORTAL_MISSES_PER_ADDRESS})
            except throttle.TooManyAttempts:
                pass  # already locked out by a request racing this one; this answer stays a 404
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        _keep_out_of_caches(response)
        return response


def _keep_out_of_caches(response) -> None:
    """Every answer but our public static files carries someone's data (a customer's name, address, unit, a tracking
    token): no browser or proxy keeps a copy (`no-store`). A view that chose a max-age for its file (an RMA's photo)
    keeps it, for the signed-in browser only: `private`, never `public`."""
    if request.endpoint == "static":
        return
    cache = response.cache_control
    if cache.max_age is None:
        cache.no_store = True
    elif cache.public:
        cache.public, cache.private = False, True
