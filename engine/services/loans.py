"""Loan units: each centre's pool; lend one while a repair takes long, take it back before closing."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import select

from engine.actors import Actor
from engine.errors import Conflict, InvalidFormData, InvalidInput, NotAllowed, NotFound, RmaNotFound
from engine.services.context import StepContext
from engine.services.locks import lock_instance
from engine.store.audit import audit
from engine.store.model import Centre, Loan, LoanUnit, Rma, RmaEstimate, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.orchestrator import Orchestrator

LENDING_ROLES = ("reception", "manager")
# The user task of a process that offers a loan unit (centre SG's approval stage, processes/variants/SG);
# its form records `loan_lent` and the unit's asset code `loan_unit_code`.
LOAN_OFFER_TASK = "offer_loan_unit"


def _unit_view(unit: LoanUnit, out: Loan | None = None) -> dict:
    return {
        "id": unit.id,
        "centre": unit.centre_code,
        "code": unit.code,
        "model": unit.model,
        "serial_number": unit.serial_number,
        "active": unit.active,
        "lent_to_rma_id": out.rma_id if out else None,
    }


def _loan_view(loan: Loan, unit: LoanUnit) -> dict:
    return {
        "id": loan.id,
        "rma_id": loan.rma_id,
        "unit": _unit_view(unit),
        "issued_at": loan.issued_at,
        "issued_by": loan.issued_by,
        "returned_at": loan.returned_at,
        "returned_by": loan.returned_by,
        "note": loan.note,
    }


def _lent_unit_ids(session: Session, centre: str) -> dict[int, Loan]:
    rows = session.scalars(
        select(Loan)
        .join(LoanUnit, LoanUnit.id == Loan.unit_id)
        .where(LoanUnit.centre_code == centre, Loan.returned_at.is_(None))
    )
    return {loan.unit_id: loan for loan in rows}


def _check_staff(actor: Actor, centre: str) -> None:
    if actor.role not in LENDING_ROLES or not actor.may_see_centre(centre):
        raise NotAllowed(f"only reception or a manager of centre {centre} may manage its loan units")


def add_unit(orc: Orchestrator, actor: Actor, centre: str, code: str, model: str, serial_number: str = "") -> dict:
    """Add a unit to a centre's pool."""
    _check_staff(actor, centre)
    code, model = (code or "").strip(), (model or "").strip()
    errors = {k: ["This field is required."] for k, v in (("code", code), ("model", model)) if not v}
    if errors:
        raise InvalidInput("the loan unit has invalid fields", errors)
    with orc.uow() as uow:
        s = uow.session
        if s.get(Centre, centre) is None:
            raise NotFound(f"no centre {centre}")
        if s.scalar(select(LoanUnit.id).where(LoanUnit.centre_code == centre, LoanUnit.code == code)):
            raise InvalidInput(f"loan unit {code} exists", {"code": ["A unit with this code exists at the centre."]})
        unit = LoanUnit(
            centre_code=centre,
            code=code,
            model=model,
            serial_number=(serial_number or "").strip(),
            active=True,
            created_at=utcnow(),
        )
        s.add(unit)
        uow.commit()
        return _unit_view(unit)


def pool(orc: Orchestrator, actor: Actor, centre: str) -> list[dict]:
    if not actor.may_see_centre(centre):
        raise NotAllowed(f"you may not see centre {centre}")
    with orc.reading() as s:
        lent = _lent_unit_ids(s, centre)
        units = s.scalars(select(LoanUnit).where(LoanUnit.centre_code == centre).order_by(LoanUnit.code))
        return [_unit_view(u, lent.get(u.id)) for u in units]


def loan_panel(orc: Orchestrator, session: Session, rma: Rma) -> dict:
    """The RMA's loans, the free units of its centre, and whether reception should offer one: when the
    estimate's later date is more than `loan_offer_days` away (RMA_LOAN_OFFER_DAYS)."""
    loans = session.execute(
        select(Loan, LoanUnit)
        .join(LoanUnit, LoanUnit.id == Loan.unit_id)
        .where(Loan.rma_id == rma.id)
        .order_by(Loan.id)
    ).all()
    out = next((_loan_view(ln, u) for ln, u in loans if ln.returned_at is None), None)
    lent = _lent_unit_ids(session, rma.centre_code)
    free = [
        _unit_view(u)
        for u in session.scalars(
            select(LoanUnit).where(LoanUnit.centre_code == rma.centre_code, LoanUnit.active).order_by(LoanUnit.code)
        )
        if u.id not in lent
    ]
    estimate = session.get(RmaEstimate, rma.id)
    threshold = orc.settings.loan_offer_days
    days_left = (estimate.latest - date.today()).days if estimate is not None else None
    offer = rma.closed_at is None and out is None and days_left is not None and days_left > threshold
    return {
        "loans": [_loan_view(ln, u) for ln, u in loans],
        "out": out,
        "available": free,
        "offer": offer,
        "threshold_days": threshold,
        "days_left": days_left,
    }


def issue(orc: Orchestrator, actor: Actor, rma_id: int, unit_id: int, note: str = "") -> dict:
    """Lend `unit_id` to the RMA's customer (one loan out per RMA; a unit is out to one RMA at a time)."""
    with orc.uow() as uow:
        s = uow.session
        rma = _rma(s, actor, rma_id)
        _check_staff(actor, rma.centre_code)
        lock_instance(s, rma.id)  # one loan per RMA: a second counter waits, then finds the loan out
        if rma.closed_at is not None:
            raise Conflict(f"{rma.number} is closed")
        query = select(LoanUnit).where(LoanUnit.id == unit_id)
        if orc.db.dialect.name == "postgresql":
            query = query.with_for_update()  # two counters lending the same unit: one waits, then sees it out
        unit = s.scalar(query)
        if unit is None or unit.centre_code != rma.centre_code or not unit.active:
            raise NotFound(f"no loan unit {unit_id} at centre {rma.centre_code}")
        if s.scalar(select(Loan.id).where(Loan.unit_id == unit.id, Loan.returned_at.is_(None))):
            raise Conflict(f"loan unit {unit.code} is already lent out")
        if s.scalar(select(Loan.id).where(Loan.rma_id == rma.id, Loan.returned_at.is_(None))):
            raise Conflict(f"{rma.number} already has a loan unit out")
        loan = Loan(
            rma_id=rma.id,
            unit_id=unit.id,
            issued_at=utcnow(),
            issued_by=actor.username,
            note=(note or "").strip()[:2000],
        )
        s.add(loan)
        audit(
            s,
            rma.id,
            actor,
            "loan_issued",
            f"loan unit {unit.code} ({unit.model}) lent to the customer",
            data={"unit": unit.code},
        )
        uow.commit()
        return _loan_view(loan, unit)


def lend_from_the_loan_offer(ctx: StepContext) -> None:
    """Completing the process's loan offer with a unit lent books that unit out to the RMA, as `issue` does.

    A code the centre's pool does not know, or a unit already out, refuses the completion (nothing is
    saved) with the error on the form's field; a unit already lent to this RMA from its page is kept.
    """
    if ctx.completed_task != LOAN_OFFER_TASK or ctx.data.get("loan_lent") is not True:
        return
    s, rma = ctx.session, ctx.rma
    code = str(ctx.data.get("loan_unit_code") or "").strip()

    def refuse(message: str) -> NoReturn:
        raise InvalidFormData(f"no loan unit was lent: {message}", {"loan_unit_code": [message]})

    unit = s.scalar(
        select(LoanUnit).where(LoanUnit.centre_code == rma.centre_code, LoanUnit.code == code, LoanUnit.active)
    )
    if unit is None:
        refuse(f"The loan pool of centre {rma.centre_code} has no unit {code or '(none given)'}.")
    out = s.scalar(select(Loan).where(Loan.rma_id == rma.id, Loan.returned_at.is_(None)))
    if out is not None:
        if out.unit_id == unit.id:
            return
        refuse(f"{rma.number} already has another loan unit out.")
    if s.scalar(select(Loan.id).where(Loan.unit_id == unit.id, Loan.returned_at.is_(None))):
        refuse(f"Loan unit {unit.code} is already lent out.")
    s.add(
        Loan(
            rma_id=rma.id,
            unit_id=unit.id,
            issued_at=utcnow(),
            issued_by=ctx.actor.username,
            note=str(ctx.data.get("loan_note") or "").strip()[:2000],
        )
    )
    audit(
        s,
        rma.id,
        ctx.actor,
        "loan_issued",
        f"loan unit {unit.code} ({unit.model}) lent to the customer",
        data={"unit": unit.code, "task": LOAN_OFFER_TASK},
    )


def return_unit(orc: Orchestrator, actor: Actor, rma_id: int) -> dict:
    """Record that the customer brought the loan unit back."""
    with orc.uow() as uow:
        s = uow.session
        rma = _rma(s, actor, rma_id)
        _check_staff(actor, rma.centre_code)
        lock_instance(s, rma.id)  # two counters booking the return at once: one waits, then finds it returned
        found = s.execute(
            select(Loan, LoanUnit)
            .join(LoanUnit, LoanUnit.id == Loan.unit_id)
            .where(Loan.rma_id == rma.id, Loan.returned_at.is_(None))
        ).first()
        if found is None:
            raise Conflict(f"{rma.number} has no loan unit out")
        loan, unit = found
        loan.returned_at, loan.returned_by = utcnow(), actor.username
        audit(s, rma.id, actor, "loan_returned", f"loan unit {unit.code} returned", data={"unit": unit.code})
        uow.commit()
        return _loan_view(loan, unit)


def _rma(session: Session, actor: Actor, rma_id: int) -> Rma:
    rma = session.get(Rma, rma_id)
    if rma is None or not actor.may_see_centre(rma.centre_code):
        raise RmaNotFound(f"RMA {rma_id} not found")
    return rma
