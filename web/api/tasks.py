"""The task inbox: list, show, claim, unclaim and complete human tasks."""

from __future__ import annotations

from engine.services import tasks
from web.schemas import CompleteTaskSchema, CompletionSchema, TaskListArgsSchema, TaskPageSchema, TaskSchema

from .common import Blueprint, caller, orchestrator, secured

blp = Blueprint(
    "api_tasks",
    __name__,
    url_prefix="/api/tasks",
    description="Human tasks of running processes, offered by role (BPMN lane) and centre.",
)


@blp.route("")
@secured(blp)
@blp.arguments(TaskListArgsSchema, location="query")
@blp.response(200, TaskPageSchema)
def list_tasks(args):
    """Tasks the caller's role and centre may work (managers: may see), oldest first."""
    return tasks.list_tasks(orchestrator(), caller(), **args)


@blp.route("/<task_id>")
@secured(blp, 404)
@blp.response(200, TaskSchema)
def get_task(task_id):
    """One task with its form (a JSON Schema)."""
    return tasks.get_task(orchestrator(), caller(), task_id)


@blp.route("/<task_id>/claim", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.response(200, TaskSchema)
def claim_task(task_id):
    """Take a task; 409 when it is no longer open or someone else has it."""
    return tasks.claim_task(orchestrator(), caller(), task_id)


@blp.route("/<task_id>/unclaim", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.response(200, TaskSchema)
def unclaim_task(task_id):
    """Give a claimed task back to the inbox."""
    return tasks.unclaim_task(orchestrator(), caller(), task_id)


@blp.route("/<task_id>/complete", methods=["POST"])
@secured(blp, 403, 404, 409)
@blp.arguments(CompleteTaskSchema)
@blp.response(200, CompletionSchema)
def complete_task(body, task_id):
    """Submit the task's form data; the process runs on until it waits again (422 lists field errors)."""
    return tasks.complete_task(orchestrator(), caller(), task_id, body["data"])
