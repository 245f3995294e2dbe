"""The customer's tracking page, quote decision, SMS choice and receipt, by unguessable token, no login; and
"find my repair", which mails a lost tracking link to the address on record."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from engine.customer import customer_text
from engine.errors import Conflict
from engine.process.stages import LANGUAGES
from engine.services import portal as portal_service
from engine.services import receipts, throttle
from engine.services import requests as request_service

from ..auth import orchestrator, refuse_staff_credentials
from ..requests import choice_labels
from ..staff.filters import register as register_filters

bp = Blueprint("portal", __name__, template_folder="templates")
register_filters(bp)


def _texts(lang: str):
    return {
        "_": lambda key, **kw: customer_text.t(lang, key, **kw),
        "day": lambda value: customer_text.day(lang, value),
        "amount": lambda value, currency: customer_text.money(lang, value, currency),
        "number": lambda value: customer_text.number(lang, value),
    }


def client_ip() -> str | None:
    """The request's address as the server saw it (behind a proxy, configure ProxyFix to trust it)."""
    return request.remote_addr


def _find_page(lang: str, status: int = 200, message: str | None = None, category: str = "success", values=None):
    response = Response(
        render_template(
            "portal/find.html",
            lang=lang,
            message=message,
            category=category,
            values=values or {},
            contacts=portal_service.contacts(orchestrator()),
            **_texts(lang),
        ),
        status=status,
    )
    response.headers["Content-Language"] = lang
    return response


def _find_language() -> str:
    wanted = request.args.get("lang") or request.form.get("lang")
    return customer_text.language(wanted or request.accept_languages.best_match(LANGUAGES) or None)


@bp.get("/track")
def find():
    return _find_page(_find_language())


@bp.post("/track")
def find_send():
    lang = _find_language()
    values = {"number": request.form.get("number", "")[:40]}
    try:
        can_send = portal_service.send_tracking_link(
            orchestrator(), request.form.get("number", ""), request.form.get("email", ""), ip=client_ip()
        )
    except throttle.TooManyAttempts as exc:
        page = _find_page(
            lang, 429, customer_text.t(lang, "find.throttled", minutes=exc.retry_after // 60 + 1), "error"
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    # the same answer whether or not the number and address matched: the page is no oracle
    if not can_send:
        return _find_page(lang, 200, customer_text.t(lang, "find.unavailable"), "warning", values)
    return _find_page(lang, 200, customer_text.t(lang, "find.done"), "success", values)


@bp.get("/track/<token>")
def track(token: str):
    view = portal_service.portal_view(orchestrator(), token)
    offers = request_service.request_view(orchestrator(), token)["offers"] if view["decision_pending"] else None
    if offers and not (offers.get("offer_replacement") or offers.get("offer_trade_in")):
        offers = None  # repair only: the usual approve / decline
    response = Response(
        render_template(
            "portal/track.html",
            rma=view,
            token=token,
            steps=view["steps"],
            offers=offers,
            confirm_decline=view["decision_pending"] and request.args.get("decline") == "1",
            choice_labels=choice_labels(view["language"]),
            **_texts(view["language"]),
        )
    )
    response.headers["Content-Language"] = view["language"]
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL: never pass it on
    return response


@bp.post("/track/<token>/decision")
def decision(token: str):
    refuse_staff_credentials()
    answer = request.form.get("approve", "")
    approve = {"true": True, "false": False}.get(answer, answer)
    if approve is False and request.form.get("confirmed") != "1":
        # declining sends the unit back unrepaired for good: the customer confirms it first (no script needed)
        return redirect(url_for("portal.track", token=token, decline=1) + "#quote")
    version = request.form.get("quote_version")
    lang = portal_service.portal_view(orchestrator(), token)["language"]
    try:
        portal_service.record_customer_decision(
            orchestrator(),
            token,
            approve,
            ip=client_ip(),
            quote_version=int(version) if version and version.isdigit() else None,
        )
    except portal_service.QuoteChanged:
        flash(customer_text.t(lang, "page.not_recorded", reason=customer_text.t(lang, "page.quote_changed")), "error")
        return redirect(url_for("portal.track", token=token))
    except Conflict as exc:
        flash(customer_text.t(lang, "page.not_recorded", reason=exc.message), "error")
        return redirect(url_for("portal.track", token=token))
    flash(customer_text.t(lang, "page.thanks_approved" if approve is True else "page.thanks_declined"), "success")
    return redirect(url_for("portal.track", token=token))


@bp.post("/track/<token>/sms")
def sms(token: str):
    refuse_staff_credentials()  # the customer's own choice, as the quote decision
    view = portal_service.set_sms_opt_out(orchestrator(), token, request.form.get("sms") == "off")
    flash(customer_text.t(view["language"], "page.sms_saved"), "success")
    return redirect(url_for("portal.track", token=token) + "#sms")


@bp.get("/track/<token>/receipt.pdf")
def receipt_pdf(token: str):
    orc = orchestrator()
    receipt = receipts.for_customer(orc, token)
    return Response(
        receipts.pdf(receipt, orc.settings.upload_dir),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{receipt["number"]}-receipt.pdf"',
            "Referrer-Policy": "no-referrer",
        },
    )
