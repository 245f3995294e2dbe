"""Which customer messages each path of the shipped processes declares (`notifyCustomer` on the elements it
completes): the messages before the repair go out on the paths where the code that used to send them did."""

from __future__ import annotations

import pytest

from engine.services.milestones import completed_milestones
from tests.processes.test_repair_or_replace_paths import walk_replaced, walk_traded_in
from tests.processes.test_triage_paths import (
    walk_reminded_then_expired,
    walk_resolved_remotely_by_staff,
    walk_shipped_in_and_repaired,
    walk_solved_by_the_customer,
)

REPAIRED = {"intake_receipt", "diagnosis_complete", "repair_complete", "unit_shipped"}


def declared(walk) -> list[str]:
    walk.finish()
    return sorted(
        message for _, _, message, _ in completed_milestones(walk.rt.completed_elements(walk.rt.snapshot(walk.wf)))
    )


@pytest.mark.parametrize(
    ("path", "messages"),
    [
        (walk_solved_by_the_customer, {"request_received", "resolved_remotely"}),
        (walk_resolved_remotely_by_staff, {"request_received", "resolved_remotely"}),
        (walk_shipped_in_and_repaired, {"request_received", "ship_in"} | REPAIRED),
        (walk_reminded_then_expired, {"request_received", "ship_in", "parcel_reminder", "request_expired"}),
        (walk_replaced, {"intake_receipt", "diagnosis_complete", "quote_ready", "new_unit_shipped"}),
        (walk_traded_in, {"intake_receipt", "diagnosis_complete", "quote_ready", "new_unit_shipped"}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_path_declares_its_messages_once(parsed, path, messages):
    found = declared(path(parsed))
    assert sorted(messages) == found  # each once
