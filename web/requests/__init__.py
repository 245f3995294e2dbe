"""The customer's side before the repair: the online request form with the centre finder, the request page
(self-help steps, repair-or-replace choice) and the packing slip, by unguessable token, no account.

In the customer's language (engine.customer.customer_text, as the tracking portal): the request's recorded language once
it exists; before that, the form's `lang` query parameter, else the browser's Accept-Language."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from engine.customer import customer_text
from engine.errors import Conflict, InvalidInput
from engine.services import catalogue, centres, throttle
from engine.services import portal as portal_service
from engine.services import requests as request_service

from ..auth import orchestrator
from ..staff.filters import register as register_filters
from . import payload as request_payload
from .slip import barcode_svg, packing_slip_pdf

bp = Blueprint("requests", __name__, template_folder="templates")
register_filters(bp)
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}  # the token is in the URL
LANGUAGES = (("en", "English"), ("de", "Deutsch"))


def choice_labels(lang: str) -> dict:
    """The repair-or-replace buttons' words (and the trade-in's 'credit') in `lang`."""
    return {
        key: customer_text.t(lang, f"choice.{key}")
        for key in ("repair", "replacement", "trade_in", "decline", "credit")
    }


def _texts(lang: str) -> dict:
    """The template helpers of the customer's pages (as the portal's): words, dates, amounts in `lang`."""
    return {
        "_": lambda key, **kw: customer_text.t(lang, key, **kw),
        "day": lambda value: customer_text.day(lang, value),
        "amount": lambda value, currency: customer_text.money(lang, value, currency),
        "lang": lang,
        "choice_labels": choice_labels(lang),
    }


def form_language(chosen: str | None = None) -> str:
    """The public form's language before any request exists: ?lang=, else the language chosen in the form
    (a re-shown form), else the browser's Accept-Language, else English."""
    for value in (request.args.get("lang"), chosen):
        if value in customer_text.LANGUAGES:
            return value
    return request.accept_languages.best_match(customer_text.LANGUAGES) or customer_text.DEFAULT


def _in_language(response: Response, lang: str, varies: bool = False) -> Response:
    response.headers["Content-Language"] = lang
    if varies:
        response.vary.add("Accept-Language")
    return response


def _form_page(values: dict, errors: dict, status: int = 200, lang: str | None = None):
    lang = lang or form_language(values.get("language"))
    near = request.args.get("near") or values.get("near") or ""
    finder = centres.find_centres(orchestrator(), near or None)
    models = catalogue.list_models(orchestrator())
    html = render_template(
        "requests/new.html",
        values=values,
        errors=errors,
        finder=finder,
        near=near,
        models=models,
        languages=LANGUAGES,
        contacts=portal_service.contacts(orchestrator()),
        **_texts(lang),
    )
    return _in_language(Response(html, status), lang, varies=True)


@bp.get("/request")
def new():
    return _form_page({}, {})


@bp.post("/request")
def submit():
    values = {k: request.form.get(k, "") for k in request_payload.FIELDS}
    proof = request.files.get("proof_of_purchase")
    data = proof.read(request_service.MAX_PROOF_BYTES + 1) if proof else b""
    try:
        created = request_service.submit_request(
            orchestrator(), request_payload.nested(values), proof.filename if proof else "", data, request.remote_addr
        )
    except InvalidInput as exc:
        errors = request_payload.flat_errors(exc.errors)
        if not errors:
            errors = {"_form": [exc.message]}
        return _form_page(values, errors, 422)
    except throttle.TooManyAttempts as exc:
        lang = form_language(values.get("language"))
        page = _form_page(
            values, {"_form": [customer_text.t(lang, "form.throttled", minutes=exc.retry_after // 60 + 1)]}, 429, lang
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    lang = _request_language(created["tracking_token"])
    flash(customer_text.t(lang, "request.registered", number=created["number"]), "success")
    return redirect(url_for("requests.view", token=created["tracking_token"], new=1))


def _private(html: str, lang: str) -> Response:
    response = Response(html)
    response.headers.update(PRIVATE)
    return _in_language(response, lang)


def _request_language(token: str) -> str:
    return customer_text.language(request_service.request_view(orchestrator(), token)["language"])


def _localised(rma: dict) -> tuple[dict, str]:
    """The request view (its status and outcome already in the request's recorded language) and that language."""
    lang = customer_text.language(rma["language"])
    return {**rma, "language": lang}, lang


@bp.get("/request/<token>")
def view(token: str):
    rma, lang = _localised(request_service.request_view(orchestrator(), token))
    return _private(
        render_template(
            "requests/view.html",
            rma=rma,
            token=token,
            new=request.args.get("new") == "1",
            confirm_decline=rma["decision_pending"] and request.args.get("decline") == "1",
            **_texts(lang),
        ),
        lang,
    )


@bp.post("/request/<token>/troubleshooting")
def troubleshooting(token: str):
    solved = request.form.get("troubleshoot_solved")
    answers = {
        key[7:]: value
        for key, value in request.form.items()
        if key.startswith("answer_") and value in ("yes", "no", "not_sure")
    }
    data = {"troubleshoot_solved": solved == "true", "answers": answers}
    if request.form.get("troubleshoot_notes", "").strip():
        data["troubleshoot_notes"] = request.form["troubleshoot_notes"].strip()[:2000]
    lang = _request_language(token)
    try:
        request_service.answer_troubleshooting(orchestrator(), token, data, ip=request.remote_addr)
    except (Conflict, InvalidInput) as exc:
        flash(customer_text.t(lang, "request.answer_not_recorded", reason=exc.message), "error")
        return redirect(url_for("requests.view", token=token))
    flash(customer_text.t(lang, "request.thanks_solved" if solved == "true" else "request.thanks_faulty"), "success")
    return redirect(url_for("requests.view", token=token))


@bp.post("/request/<token>/choice")
def choice(token: str):
    chosen = request.form.get("choice", "")
    to_track = request.form.get("back") == "track"
    lang = _request_language(token)  # an unknown token is a 404 before anything else
    if chosen == "decline" and request.form.get("confirmed") != "1":
        # declining sends the unit back unrepaired for good: the customer confirms it first, as a declined quote
        if to_track:
            return redirect(url_for("portal.track", token=token, decline=1) + "#quote")
        return redirect(url_for("requests.view", token=token, decline=1) + "#offers")
    try:
        request_service.record_choice(orchestrator(), token, chosen, ip=request.remote_addr)
    except (Conflict, InvalidInput) as exc:
        flash(customer_text.t(lang, "choice.not_recorded", reason=exc.message), "error")
    else:
        flash(customer_text.t(lang, f"choice.done.{chosen}"), "success")
    return redirect(url_for("portal.track", token=token) if to_track else url_for("requests.view", token=token))


@bp.get("/request/<token>/packing-slip")
def packing_slip(token: str):
    rma, lang = _localised(request_service.request_view(orchestrator(), token))
    return _private(
        render_template(
            "requests/packing_slip.html", rma=rma, token=token, barcode=barcode_svg(rma["number"]), **_texts(lang)
        ),
        lang,
    )


@bp.get("/request/<token>/packing-slip.pdf")
def packing_slip_pdf_view(token: str):
    rma, lang = _localised(request_service.request_view(orchestrator(), token))
    response = Response(packing_slip_pdf(rma, lang), mimetype="application/pdf")
    response.headers.update(PRIVATE)
    response.headers["Content-Language"] = lang
    response.headers["Content-Disposition"] = f'inline; filename="{rma["number"]}-packing-slip.pdf"'
    return response
