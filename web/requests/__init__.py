"""The customer's side before the repair: the online request form with the centre finder, the request page
(self-help steps, repair-or-replace choice) and the packing slip, by unguessable token, no account."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from engine import throttle
from engine.errors import Conflict, InvalidInput
from engine.services import catalogue, centres
from engine.services import requests as request_service

from ..auth import orchestrator
from ..staff.filters import register as register_filters
from . import payload as request_payload
from .slip import barcode_svg, packing_slip_pdf

bp = Blueprint("requests", __name__, template_folder="templates")
register_filters(bp)
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}  # the token is in the URL
LANGUAGES = (("en", "English"), ("de", "Deutsch"))
CHOICE_LABELS = {"repair": "Repair it at the quoted price", "replacement": "A new unit of the same model",
                 "trade_in": "Trade it in towards the newer model", "decline": "Decline: send it back unrepaired"}


def _form_page(values: dict, errors: dict, status: int = 200):
    near = request.args.get("near") or values.get("near") or ""
    finder = centres.find_centres(orchestrator(), near or None)
    models = catalogue.list_models(orchestrator())
    return render_template("requests/new.html", values=values, errors=errors, finder=finder, near=near,
                           models=models, languages=LANGUAGES), status


@bp.get("/request")
def new():
    return _form_page({}, {})


@bp.post("/request")
def submit():
    values = {k: request.form.get(k, "") for k in request_payload.FIELDS}
    proof = request.files.get("proof_of_purchase")
    data = proof.read(request_service.MAX_PROOF_BYTES + 1) if proof else b""
    try:
        created = request_service.submit_request(orchestrator(), request_payload.nested(values),
                                                 proof.filename if proof else "", data, request.remote_addr)
    except InvalidInput as exc:
        errors = request_payload.flat_errors(exc.errors)
        if not errors:
            errors = {"_form": [exc.message]}
        return _form_page(values, errors, 422)
    except throttle.TooManyAttempts as exc:
        page, _ = _form_page(values, {"_form": [f"Too many requests from your address: please try again in "
                                                f"{exc.retry_after // 60 + 1} minutes."]}, 429)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    flash(f"Your request {created['number']} is registered. We also sent you this link by email.", "success")
    return redirect(url_for("requests.view", token=created["tracking_token"], new=1))


def _private(html: str) -> Response:
    response = Response(html)
    response.headers.update(PRIVATE)
    return response


@bp.get("/request/<token>")
def view(token: str):
    rma = request_service.request_view(orchestrator(), token)
    return _private(render_template("requests/view.html", rma=rma, token=token, new=request.args.get("new") == "1",
                                    choice_labels=CHOICE_LABELS))


@bp.post("/request/<token>/troubleshooting")
def troubleshooting(token: str):
    solved = request.form.get("troubleshoot_solved")
    answers = {key[7:]: value for key, value in request.form.items()
               if key.startswith("answer_") and value in ("yes", "no", "not_sure")}
    data = {"troubleshoot_solved": solved == "true", "answers": answers}
    if request.form.get("troubleshoot_notes", "").strip():
        data["troubleshoot_notes"] = request.form["troubleshoot_notes"].strip()[:2000]
    try:
        request_service.answer_troubleshooting(orchestrator(), token, data, ip=request.remote_addr)
    except (Conflict, InvalidInput) as exc:
        flash(f"Your answer was not recorded: {exc.message}.", "error")
        return redirect(url_for("requests.view", token=token))
    flash("Glad it works again: we closed your request." if solved == "true"
          else "Thank you: our team will look at your request and tell you how to send the unit.", "success")
    return redirect(url_for("requests.view", token=token))


@bp.post("/request/<token>/choice")
def choice(token: str):
    chosen = request.form.get("choice", "")
    try:
        request_service.record_choice(orchestrator(), token, chosen, ip=request.remote_addr)
    except (Conflict, InvalidInput) as exc:
        flash(f"Your choice was not recorded: {exc.message}.", "error")
    else:
        flash(f"Thank you: {request_service.CHOICE_WORDS[chosen].lower()}.", "success")
    return redirect(request.form.get("back") == "track" and url_for("portal.track", token=token)
                    or url_for("requests.view", token=token))


@bp.get("/request/<token>/packing-slip")
def packing_slip(token: str):
    rma = request_service.request_view(orchestrator(), token)
    return _private(render_template("requests/packing_slip.html", rma=rma, token=token,
                                    barcode=barcode_svg(rma["number"])))


@bp.get("/request/<token>/packing-slip.pdf")
def packing_slip_pdf_view(token: str):
    rma = request_service.request_view(orchestrator(), token)
    response = Response(packing_slip_pdf(rma), mimetype="application/pdf")
    response.headers.update(PRIVATE)
    response.headers["Content-Disposition"] = f'inline; filename="{rma["number"]}-packing-slip.pdf"'
    return response
