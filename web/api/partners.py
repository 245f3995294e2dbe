"""Partner organisations, their accounts, RMAs and figures (issue 17, points 1 and 6)."""

from __future__ import annotations

from flask import url_for

from engine.services import partner_rmas, partners
from web.api.partner_schemas import (
    FiguresSchema,
    OrganisationCreateSchema,
    OrganisationSchema,
    PartnerUnitListArgsSchema,
    PartnerUnitPageSchema,
    PartnerUnitSchema,
    PartnerUserCreatedSchema,
    PartnerUserCreateSchema,
)

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_partners",
    __name__,
    url_prefix="/api/organisations",
    description="Installers, dealers and distributors: their accounts, units and figures. A partner's token reads "
    "its own organisation; any other is 404.",
)


@blp.route("", methods=["POST"])
@secured(blp, 403, 409)
@blp.arguments(OrganisationCreateSchema)
@blp.response(201, OrganisationSchema)
def create_organisation(payload):
    """A new partner organisation served by a centre (a manager of that centre; 409 for a taken name)."""
    view = partners.create_organisation(orchestrator(), caller(), payload)
    return view, {"Location": url_for("api_partners.get_organisation", org_id=view["id"])}


@blp.route("", methods=["GET"])
@secured(blp, 403, partners=True)
@blp.response(200, OrganisationSchema(many=True))
def list_organisations():
    """The organisations of the manager's centres, by name (a partner: its own)."""
    return partners.list_organisations(orchestrator(), caller())


@blp.route("/<int:org_id>")
@secured(blp, 404, partners=True)
@blp.response(200, OrganisationSchema)
def get_organisation(org_id):
    """One organisation with its accounts."""
    return partners.get_organisation(orchestrator(), caller(), org_id)


@blp.route("/<int:org_id>/users", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(PartnerUserCreateSchema)
@blp.response(201, PartnerUserCreatedSchema)
def add_user(payload, org_id):
    """A new account with the role `partner` in the organisation (a manager of its centre; 409 for a taken name)."""
    return partners.add_partner_user(orchestrator(), caller(), org_id, **payload)


@blp.route("/<int:org_id>/rmas")
@secured(blp, 404, partners=True)
@blp.arguments(PartnerUnitListArgsSchema, location="query")
@blp.response(200, PartnerUnitPageSchema)
def list_rmas(args, org_id):
    """The organisation's RMAs, newest first, with status, stage, estimate and quote."""
    return partner_rmas.list_partner_rmas(orchestrator(), caller(), org_id, **args)


@blp.route("/<int:org_id>/rmas/<int:rma_id>")
@secured(blp, 404, partners=True)
@blp.response(200, PartnerUnitSchema)
def get_rma(org_id, rma_id):
    """One of the organisation's RMAs (404 for any other)."""
    return partner_rmas.get_partner_rma(orchestrator(), caller(), rma_id, org_id)


@blp.route("/<int:org_id>/figures")
@secured(blp, 404, partners=True)
@blp.response(200, FiguresSchema)
def figures(org_id):
    """Units returned, open units, no-fault-found rate, median turnaround and open quotes."""
    return partner_rmas.partner_figures(orchestrator(), caller(), org_id)
