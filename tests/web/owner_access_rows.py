"""Access expectations for the process owners' pages (web/owners), merged into test_access_matrix_pages.py.

Readers are process owners and managers; one bound to a centre reads the base and its own centre's
variant only. Deploying (upload) and moving RMAs need a process owner: the global one for the base,
a centre's own for its variant. A 302 after a POST is the page's own redirect, not the login page.
"""

from __future__ import annotations

from engine.services import processes

READERS = ("process_owner", "manager", "process_owner:all", "manager:all")
INTAKE = "stages/rma_intake.bpmn"


def _bundle_id(world, centre=None) -> int:
    with world.orc.uow() as uow:
        return processes.latest_bundle(uow.session, centre).id


def _reader(role, scope):
    return 302 if role == "anonymous" else 200 if role in READERS else 403


def _every_centre_reader(role, scope):
    """A version of centre DE's variant: readers who see every centre."""
    return 302 if role == "anonymous" else 200 if role in ("process_owner:all", "manager:all") else 403


def _base_migrator(role, scope):
    return 302 if role == "anonymous" else 200 if role == "process_owner:all" else 403


def _base_deployer(role, scope):
    return 302 if role in ("anonymous", "process_owner:all") else 403  # 302: login, or back to the list


def _centre_deployer(role, scope):
    if role in ("anonymous", "process_owner:all") or (role == "process_owner" and scope == "own"):
        return 302
    return 403


ROWS = {
    "process versions": (lambda w, ctx: ("GET", "/processes", None), _reader),
    "process version": (lambda w, ctx: ("GET", f"/processes/{_bundle_id(w)}", None), _reader),
    "process file download": (lambda w, ctx: ("GET", f"/processes/{_bundle_id(w)}/files/{INTAKE}", None), _reader),
    "modeler": (lambda w, ctx: ("GET", f"/processes/{_bundle_id(w)}/edit/{INTAKE}", None), _reader),
    "variant diff (DE)": (lambda w, ctx: ("GET", f"/processes/{_bundle_id(w, 'DE')}/diff", None), _every_centre_reader),
    "migration preview (base)": (lambda w, ctx: ("GET", f"/processes/{_bundle_id(w)}/migrate", None), _base_migrator),
    "upload deploy (base)": (lambda w, ctx: ("POST", "/processes/upload", {"centre": ""}), _base_deployer),
    "upload deploy (centre)": (lambda w, ctx: ("POST", "/processes/upload", {"centre": ctx[1]}), _centre_deployer),
}
