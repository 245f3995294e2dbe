"""Walk RMAs through the services as staff and customers do: find an RMA's open task and complete it.

The one shared way for tests to move an RMA on (instead of a private helper per test module):

    complete_open_task(orc, "sg.tech", rma_id, "diagnose", {...})  # as sg.tech, the open task named diagnose
    complete_open_task(orc, None, rma_id)   # the RMA's one open task, as the staff of its role, standard data
    walk_to(orc, rma, "repair")             # standard data (and an approved quote) until `repair` is open
    finish(orc, rma)                        # ... until the RMA is closed; returns each step and the status after it

Only engine.services is used, so the driver runs on any layout of the engine behind it.
"""

from __future__ import annotations

from engine.services import portal, rmas, tasks
from tests.helpers import INTAKE, actor

DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 100, "labour_hours": 2}
# Valid data for every human task of the shipped processes (base, and the SG and DE variants): a repair that goes
# the plain way (QA passes, repaired in house, no loan unit lent).
FORMS = {
    "record_condition": INTAKE,
    "diagnose": DIAGNOSIS,
    "repair": {"repair_notes": "Board replaced"},
    "qa_check": {"qa_passed": True},
    "ship_return": {"carrier": "DHL", "tracking_number": "JD01"},
    "ship_replacement": {"replacement_serial": "SN-NEW-1", "carrier": "DHL", "tracking_number": "JD02"},
    "review_request": {"review_decision": "ship_in"},
    "review_overdue": {"escalation_action": "chased"},
    "approve_goodwill": {"goodwill_approved": True},
    # centre SG's approval stage: a long repair is offered a loan unit
    "offer_loan_unit": {"loan_lent": False},
    # centre DE's repair stage: in house, or at the factory first
    "decide_repair_site": {"factory_only": False},
    "ship_to_factory": {"factory_carrier": "DHL", "factory_tracking_number": "FAC-001"},
    "record_factory_report": {"factory_report": "Optics resealed at the factory"},
}
# A task's role -> the demo user (engine.demo) of the RMA's centre who works it
STAFF = {"reception": "reception", "technician": "tech", "qa": "qa"}
CUSTOMER_DECISION = "customer_approval"  # answered through the tracking link, not as a staff task


def open_tasks(orc, rma_id: int, username: str = "manager") -> list[dict]:
    """The RMA's open tasks that `username` may see (a manager without a centre sees all of them)."""
    return tasks.list_tasks(orc, actor(orc, username), rma_id=rma_id)["items"]


def only_task(orc, username: str, rma_id: int) -> dict:
    """The one open task of the RMA that `username` sees."""
    items = open_tasks(orc, rma_id, username)
    assert len(items) == 1, items
    return items[0]


def find_task(orc, username: str | None, rma_id: int, name: str | None = None) -> dict:
    """The RMA's open task `name` as `username` sees it (None: as a manager); without a name, its only task."""
    if name is None:
        return only_task(orc, username or "manager", rma_id)
    found = [t for t in open_tasks(orc, rma_id, username or "manager") if t["name"] == name]
    assert len(found) == 1, f"{len(found)} open tasks {name} on RMA {rma_id} for {username or 'manager'}"
    return found[0]


def worker(task: dict) -> str:
    """Who works `task`: its role's demo user at the task's centre (a manager's task: the manager)."""
    if task["role"] == "manager":
        return "manager"
    return f"{task['centre'].lower()}.{STAFF[task['role']]}"


def complete_open_task(
    orc, username: str | None, rma_id: int, name: str | None = None, data: dict | None = None, claim: bool = False
) -> dict:
    """Complete the RMA's open task `name` (without a name: its only task) and return complete_task's result.

    `username` None: the task's role at its centre works it. `data` None: the standard data for the task (FORMS).
    `claim`: claim the task first, as the staff pages do."""
    task = find_task(orc, username, rma_id, name)
    who = actor(orc, username or worker(task))
    if claim:
        tasks.claim_task(orc, who, task["id"])
    return tasks.complete_task(orc, who, task["id"], standard_form(task) if data is None else data)


def standard_form(task: dict) -> dict:
    """FORMS' data for the task, by its name or else by its form (review_overdue_qa fills review_overdue.json)."""
    form = (task.get("form_file") or "").removesuffix(".json")
    return FORMS[task["name"] if task["name"] in FORMS else form]


def decide(orc, rma: dict, approve: bool = True) -> dict:
    """The customer's answer to the pending quote, through the tracking link; returns the portal view."""
    return portal.record_customer_decision(orc, rma["tracking_token"], approve)


def status(orc, rma_id: int) -> str:
    return rmas.get_rma(orc, actor(orc, "manager"), rma_id)["status"]


def step(orc, rma: dict, forms: dict | None = None, approve: bool = True) -> tuple[str, str]:
    """Complete the RMA's oldest open task (the customer's decision included) with standard data, `forms` first.

    Returns the task's name and the RMA's status after it."""
    task = open_tasks(orc, rma["id"])[0]
    if task["name"] == CUSTOMER_DECISION:
        decide(orc, rma, approve)
        return task["name"], status(orc, rma["id"])
    data = (forms or {}).get(task["name"])
    return task["name"], complete_open_task(orc, None, rma["id"], task["name"], data)["rma"]["status"]


def walk_to(orc, rma: dict, name: str, forms: dict | None = None, limit: int = 20) -> list[tuple[str, str]]:
    """Complete open tasks with standard data (`forms` first) until task `name` is open; returns the steps."""
    steps = []
    while name not in [t["name"] for t in open_tasks(orc, rma["id"])]:
        assert len(steps) < limit, f"{name} not reached after {steps}"
        steps.append(step(orc, rma, forms))
    return steps


def finish(orc, rma: dict, forms: dict | None = None, limit: int = 20) -> list[tuple[str, str]]:
    """Complete open tasks with standard data (`forms` first, the quote approved) until none is left.

    Returns each step as (task name, the RMA's status after it)."""
    steps = []
    while open_tasks(orc, rma["id"]):
        assert len(steps) < limit, f"still open after {steps}"
        steps.append(step(orc, rma, forms))
    return steps
