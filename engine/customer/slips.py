"""A broken promise as the customer reads it: the `eta_slipped` message's name and the tracking page's notice.

engine.services.promises decides when an estimate slips and sends the message; this module holds what the
deploy check (engine.services.processes, CODE_MESSAGES) and the tracking page (engine.services.portal) need.
"""

from __future__ import annotations

from datetime import date

from engine.customer import customer_text
from engine.process.stages import LANGUAGES, StageTable

SLIPPED = "eta_slipped"
# The messages engine.services.promises sends, with the languages their templates must have in every deployed
# bundle (customers read every shipped language); engine.services.processes refuses a deploy without them.
MESSAGES: dict[str, tuple[str, ...]] = {SLIPPED: tuple(LANGUAGES)}


def stage_name(stages: StageTable, key: str | None, status: str, lang: str) -> str:
    """The step an RMA in stage `key` is at, as the tracking page names it (its status text without one)."""
    stage = stages.get(key) if key else None
    if stage is None or stage.step is None:
        stage = stages.get(stages.counted_as(key)) if key else None
    if stage is not None:
        return stage.name(lang)
    return customer_text.status_text(lang, status, stages)


def slip_view(events: list[dict], stages: StageTable, status: str, lang: str) -> dict | None:
    """The latest slip of an open RMA for its tracking page, from its `eta_slipped` events' data (or None)."""
    slips = [e["data"] for e in events if e["kind"] == SLIPPED and isinstance(e.get("data"), dict)]
    if not slips:
        return None
    last = slips[-1]
    promised = date.fromisoformat(last["promised"])
    stage = stage_name(stages, last.get("stage"), status, lang)
    return {
        "promised": promised,
        "stage": stage,
        "text": customer_text.t(lang, "eta.slipped", promised=customer_text.day(lang, promised), stage=stage),
    }
