"""What the process says about its stages to customers: the tracking page's steps, the names customers read,
and the estimate's standard times. Read once per bundle (with its parsed specs, cached by hash).

A process owner sets them in the modeler's properties panel, as spiffworkflow:properties on the skeleton's call
activities (processes/rma.bpmn, one call activity per stage; the stage is the called process id without `rma_`):

    customerStageName.<lang>  the stage's name for customers: its step on the tracking page ("Diagnosis",
                              "Diagnose"); also the status text of the RMA while in it when the customer texts
                              name none for its status. Needed in every customer language on a stage with a step.
    customerStageNoun.<lang>  the stage inside a sentence, as in "... units waiting ahead of yours for the
                              diagnosis": "diagnosis", "die Diagnose" (default: the name)
    portalStep                the step's place on the tracking page, a whole number; steps show in ascending
                              order (10, 20, 30 ... leaves room for a stage in between). A stage without one has
                              no step of its own. The first step is reached when the RMA is opened.
    portalStatus              with portalStep: the RMA status (the rmaStatus of the stage's tasks) that makes
                              the step current
    portalStepShown           always (default), or ifQuoted: shown only while the customer may still be asked
                              to approve a quote (never for a unit in warranty)
    etaDefaultDays            with portalStep: the standard time in days, "low-high" ("1-3", "0.5-1") or one
                              number, that the estimate uses while the centre's history is thin. The estimate
                              follows the steps' order.
    etaPaths                  the ways an RMA can go that pass this stage, space separated, of: warranty,
                              quote_approved, declined, no_fault (default: every way)
    etaQueue                  false: units do not queue for this stage (the customer decides), so the estimate
                              adds nothing for a long queue (default true)
    etaCountsAs               on a stage without a step: the stage (with a step) the estimate counts it as
                              ("intake" for the troubleshooting before a unit arrives)

A deploy refuses a malformed value naming file, element and line. A skeleton that declares none of these
properties (a bundle deployed before they moved into the process files) gets the shipped skeleton's.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from lxml import etree

from engine.config import DEFAULT_PROCESSES_DIR

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
ROOT_PROCESS_ID = "rma"
STATUS_PROPERTY = "rmaStatus"
# The languages customers are served in (engine.customer.customer_text reads them from here).
LANGUAGES = ("en", "de")
# The ways an RMA can go, as the estimate tells closed RMAs apart (engine.customer.eta).
ETA_PATHS = ("warranty", "quote_approved", "declined", "no_fault")
QUOTED_PATHS = frozenset({"quote_approved", "declined"})  # the ways on which the customer was sent a quote
# The RMA statuses the customer texts name (engine.customer.customer_text has "status.<status>" for each, in
# every language; tests/security/test_csv_and_vocabulary.py holds the two together). Any other rmaStatus must be
# the portalStatus of a stage, whose customer names say it; anything else would reach customers as a raw key.
CUSTOMER_STATUSES = frozenset(
    {
        "requested",
        "received",
        "diagnosing",
        "awaiting_approval",
        "reviewing_quote",
        "awaiting_unit",
        "repairing",
        "replacing",
        "quality_check",
        "returning",
    }
)
END_STEP = "closed"  # the tracking page's last step: the RMA is done (no stage)

NAME = "customerStageName"
NOUN = "customerStageNoun"
STEP = "portalStep"
STEP_STATUS = "portalStatus"
STEP_SHOWN = "portalStepShown"
DAYS = "etaDefaultDays"
PATHS = "etaPaths"
QUEUE = "etaQueue"
COUNTS_AS = "etaCountsAs"
_SINGLE = (STEP, STEP_STATUS, STEP_SHOWN, DAYS, PATHS, QUEUE, COUNTS_AS)
_PER_LANGUAGE = (NAME, NOUN)
_OURS = re.compile(r"^(customerStage|portal|eta)")  # a property so named that we do not know is a typo
_NUMBER = r"\d+(?:\.\d+)?"
_DAYS = re.compile(rf"^\s*({_NUMBER})\s*(?:-\s*({_NUMBER})\s*)?$")
_STATUS = re.compile(r"^[a-z][a-z0-9_]*$")
SHOWN = ("always", "ifQuoted")
_BOOL = {"true": True, "false": False}


def stage_key(process_id: str) -> str:
    """The stage a called process is: `rma_diagnosis` -> `diagnosis`."""
    return process_id[4:] if process_id.startswith("rma_") else process_id


def enclosing_stage(chain: Sequence[tuple[str, bool]]) -> str:
    """The stage of a task from the processes it runs in, outermost first: (process or subprocess id, whether
    a call activity started it), the skeleton first (issue 15.10).

    A stage is a process the skeleton's call activity calls; whatever runs inside it (an embedded subprocess, a
    transaction, an event subprocess, a process it calls in turn) belongs to it: `[(rma, False), (rma_diagnosis,
    True), (inspect, False)]` and `[(rma, False), (rma_diagnosis, True), (rma_helper, True)]` are both
    `diagnosis`. A task of the skeleton itself (or of a subprocess embedded in it) is the skeleton's: `rma`."""
    for process_id, called in chain[1:]:
        if called:
            return stage_key(process_id)
    return stage_key(chain[0][0]) if chain else ROOT_PROCESS_ID


@dataclass(frozen=True)
class Stage:
    """One stage as the skeleton's call activity declares it."""

    key: str
    element: str  # the call activity's id
    names: Mapping[str, str] = field(default_factory=dict)  # customerStageName per language
    nouns: Mapping[str, str] = field(default_factory=dict)  # customerStageNoun per language
    step: int | None = None
    status: str | None = None
    shown: str = "always"
    days: tuple[float, float] | None = None
    paths: frozenset[str] | None = None  # None: every way passes it
    queue: bool = True
    counts_as: str | None = None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get(LANGUAGES[0]) or self.key

    def noun(self, lang: str) -> str:
        return self.nouns.get(lang) or self.nouns.get(LANGUAGES[0]) or self.name(lang)


class StageTable:
    """A bundle's stages: the steps in order (also the estimate's order) and every stage by key and status."""

    def __init__(self, stages: Iterable[Stage] = (), declared: bool = True):
        self.by_key: Mapping[str, Stage] = MappingProxyType({s.key: s for s in stages})
        self.steps: tuple[Stage, ...] = tuple(
            sorted((s for s in self.by_key.values() if s.step is not None), key=lambda s: s.step or 0)
        )
        self.keys: tuple[str, ...] = tuple(s.key for s in self.steps)  # the estimate's stages, in order
        self.declared = declared  # False: the skeleton declared nothing (and this is the shipped table)
        self._by_status = {s.status: s for s in self.steps}

    def get(self, key: str | None) -> Stage | None:
        return self.by_key.get(key) if key else None

    def by_status(self, status: str | None) -> Stage | None:
        """The stage whose step `status` marks."""
        return self._by_status.get(status)

    def counted_as(self, key: str) -> str:
        """The step stage the estimate counts `key` as: itself, its etaCountsAs, else the first step."""
        if key in self.keys:
            return key
        stage = self.by_key.get(key)
        if stage is not None and stage.counts_as:
            return stage.counts_as
        return self.keys[0] if self.keys else key

    @property
    def quoted(self) -> frozenset[str]:
        """The stages that only the ways with a quote pass (etaPaths): the customer's approval."""
        return frozenset(s.key for s in self.by_key.values() if s.paths and s.paths <= QUOTED_PATHS)

    @property
    def default_days(self) -> dict[str, tuple[float, float]]:
        """The standard (low, high) days of each step stage."""
        return {s.key: s.days for s in self.steps if s.days is not None}

    def noun(self, key: str, lang: str) -> str:
        stage = self.by_key.get(key)
        return stage.noun(lang) if stage is not None else key

    def __repr__(self) -> str:
        return f"StageTable({', '.join(self.keys)}{'' if self.declared else '; shipped'})"


def _error(file: str, message: str, element: str | None, line: int | None) -> dict:
    return {"file": file, "element": element, "line": line, "message": message}


def _properties(el) -> list:
    return list(el.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property"))


def _skeleton(bpmn_trees: Mapping) -> tuple[str, etree._Element] | None:
    for name, root in sorted(bpmn_trees.items()):
        for process in root.iter(f"{{{BPMN}}}process"):
            if process.get("id") == ROOT_PROCESS_ID:
                return name, process
    return None


def _statuses_of(bpmn_trees: Mapping, process_id: str) -> set[str] | None:
    """Every rmaStatus set inside process `process_id` (None: the process is not in these files)."""
    for root in bpmn_trees.values():
        for process in root.iter(f"{{{BPMN}}}process"):
            if process.get("id") == process_id:
                return {
                    p.get("value")
                    for p in process.iter(f"{{{SPIFF}}}property")
                    if p.get("name") == STATUS_PROPERTY and p.get("value")
                }
    return None


def read(bpmn_trees: Mapping, errors: list, fallback: bool = True) -> StageTable:
    """The stage table of the skeleton among `bpmn_trees` (file name -> parsed root); problems go to `errors`."""
    found = _skeleton(bpmn_trees)
    if found is None:
        return _undeclared(fallback)
    file, process = found
    stages: list[Stage] = []
    seen: dict[str, str] = {}
    declared = False
    for el in process.iter(f"{{{BPMN}}}callActivity"):
        element, called = el.get("id"), el.get("calledElement") or ""
        props = _properties(el)
        if not any(_OURS.match(p.get("name") or "") for p in props):
            continue
        declared = True
        stage = _stage(file, el, stage_key(called), props, errors)
        if stage is None:
            continue
        if stage.key in seen:
            errors.append(
                _error(
                    file,
                    f"stage '{stage.key}' is declared on two call activities ({seen[stage.key]} and {element})",
                    element,
                    el.sourceline,
                )
            )
            continue
        seen[stage.key] = element
        if stage.status is not None:
            statuses = _statuses_of(bpmn_trees, called)
            # A stage process that sets no status at all deploys as it always did (its step is never current);
            # one that sets others but not this one is a misspelt portalStatus.
            if statuses and stage.status not in statuses:
                errors.append(
                    _error(
                        file,
                        f"{STEP_STATUS} '{stage.status}' is set by no task of process '{called}' "
                        f"(its tasks set: {', '.join(sorted(statuses))})",
                        element,
                        _line(el, STEP_STATUS),
                    )
                )
        stages.append(stage)
    if not declared:
        return _undeclared(fallback)
    _check_table(file, stages, process, errors)
    return StageTable(stages)


def vocabulary_errors(bpmn_trees: Mapping, table: StageTable) -> list[dict]:
    """Every rmaStatus, on any element of any file, that is neither a status the customer texts name nor the
    portalStatus of one of `table`'s stages (customers would see it untranslated)."""
    known = CUSTOMER_STATUSES | {stage.status for stage in table.by_key.values() if stage.status}
    errors = []
    for file, root in sorted(bpmn_trees.items()):
        for prop in root.iter(f"{{{SPIFF}}}property"):
            value = prop.get("value") or ""
            if prop.get("name") != STATUS_PROPERTY or not _STATUS.match(value) or value in known:
                continue  # a malformed one is refused by engine.process.validation
            owner = next((a for a in prop.iterancestors() if a.get("id")), None)
            errors.append(
                _error(
                    file,
                    f"{STATUS_PROPERTY} '{value}' is not in the status vocabulary: use one of "
                    f"{', '.join(sorted(known))}, or declare a stage whose {STEP_STATUS} it is",
                    owner.get("id") if owner is not None else None,
                    prop.sourceline,
                )
            )
    return errors


def _undeclared(fallback: bool) -> StageTable:
    """The table of a skeleton that declares no stages: the shipped skeleton's (`fallback`), else none."""
    return StageTable(shipped().by_key.values() if fallback else (), declared=False)


def _line(el, name: str) -> int | None:
    for p in _properties(el):
        if p.get("name") == name:
            return p.sourceline
    return el.sourceline


def _stage(file: str, el, key: str, props: list, errors: list) -> Stage | None:
    element = el.get("id")
    values: dict[str, str] = {}
    names: dict[str, str] = {}
    nouns: dict[str, str] = {}
    before = len(errors)

    def bad(prop, message: str) -> None:
        errors.append(_error(file, message, element, prop.sourceline if prop is not None else el.sourceline))

    for prop in props:
        name, value = prop.get("name") or "", (prop.get("value") or "").strip()
        if not _OURS.match(name):
            continue  # notifyCustomer and the like: not stage knowledge
        base, _, lang = name.partition(".")
        if base in _PER_LANGUAGE and lang:
            if lang not in LANGUAGES:
                bad(prop, f"{name}: unknown language '{lang}' (customer languages: {', '.join(LANGUAGES)})")
            elif not value:
                bad(prop, f"{name} is empty")
            else:
                (names if base == NAME else nouns)[lang] = value
        elif name in _SINGLE:
            if not value:
                bad(prop, f"{name} is empty")
            else:
                values[name] = value
        else:
            known = ", ".join([*(f"{n}.<lang>" for n in _PER_LANGUAGE), *_SINGLE])
            bad(prop, f"unknown stage property '{name}' (known: {known})")
    by_name = {p.get("name"): p for p in props}
    step = status = days = paths = counts_as = None
    shown, queue = "always", True
    if STEP in values:
        if values[STEP].isdigit() and int(values[STEP]) > 0:
            step = int(values[STEP])
        else:
            bad(by_name[STEP], f"{STEP} must be a whole number above 0, not '{values[STEP]}'")
    if STEP_STATUS in values:
        status = values[STEP_STATUS]
        if not _STATUS.match(status) or status == END_STEP:
            bad(by_name[STEP_STATUS], f"{STEP_STATUS} '{status}' is not a status a task can set")
    if STEP_SHOWN in values:
        shown = values[STEP_SHOWN]
        if shown not in SHOWN:
            bad(by_name[STEP_SHOWN], f"{STEP_SHOWN} must be one of {', '.join(SHOWN)}, not '{shown}'")
    if DAYS in values:
        match = _DAYS.match(values[DAYS])
        low, high = (float(match.group(1)), float(match.group(2) or match.group(1))) if match else (0.0, -1.0)
        if low > high:
            bad(by_name[DAYS], f"{DAYS} must be 'low-high' days with low <= high (e.g. '1-3'), not '{values[DAYS]}'")
        else:
            days = (_num(low), _num(high))
    if PATHS in values:
        given = values[PATHS].replace(",", " ").split()
        unknown = [p for p in given if p not in ETA_PATHS]
        if unknown or not given:
            bad(by_name[PATHS], f"{PATHS}: unknown way(s) {', '.join(unknown)} (known: {', '.join(ETA_PATHS)})")
        else:
            paths = frozenset(given)
    if QUEUE in values:
        if values[QUEUE].lower() in _BOOL:
            queue = _BOOL[values[QUEUE].lower()]
        else:
            bad(by_name[QUEUE], f"{QUEUE} must be true or false, not '{values[QUEUE]}'")
    if COUNTS_AS in values:
        counts_as = values[COUNTS_AS]
    if STEP in values:
        missing = [n for n in (STEP_STATUS, DAYS) if n not in values]
        missing += [f"{NAME}.{lang}" for lang in LANGUAGES if lang not in names]
        if missing:
            bad(None, f"stage '{key}' has a {STEP} but no {', '.join(missing)}")
        if COUNTS_AS in values:
            bad(by_name[COUNTS_AS], f"{COUNTS_AS} is for a stage without a {STEP}: this one counts as itself")
    else:
        for name in (STEP_STATUS, STEP_SHOWN, DAYS):
            if name in values:
                bad(by_name[name], f"{name} needs a {STEP} on the same call activity")
    if len(errors) > before:
        return None
    return Stage(
        key,
        element,
        MappingProxyType(names),
        MappingProxyType(nouns),
        step,
        status,
        shown,
        days,
        paths,
        queue,
        counts_as,
    )


def _num(value: float) -> float:
    return int(value) if value == int(value) else value


def _check_table(file: str, stages: list[Stage], process, errors: list) -> None:
    """Across stages: steps and their statuses are unique; etaCountsAs names a stage with a step."""
    by_id = {el.get("id"): el for el in process.iter(f"{{{BPMN}}}callActivity")}
    steps: dict[int, str] = {}
    statuses: dict[str, str] = {}
    with_step = {s.key for s in stages if s.step is not None}
    for stage in stages:
        el = by_id[stage.element]
        if stage.step is not None:
            if stage.step in steps:
                errors.append(
                    _error(
                        file,
                        f"{STEP} {stage.step} is also the step of stage '{steps[stage.step]}'",
                        stage.element,
                        _line(el, STEP),
                    )
                )
            steps.setdefault(stage.step, stage.key)
        if stage.status is not None:
            if stage.status in statuses:
                errors.append(
                    _error(
                        file,
                        f"{STEP_STATUS} '{stage.status}' is also the status of stage '{statuses[stage.status]}'",
                        stage.element,
                        _line(el, STEP_STATUS),
                    )
                )
            statuses.setdefault(stage.status, stage.key)
        if stage.counts_as is not None and stage.counts_as not in with_step:
            errors.append(
                _error(
                    file,
                    f"{COUNTS_AS} '{stage.counts_as}' names no stage with a {STEP} "
                    f"(stages with one: {', '.join(sorted(with_step)) or 'none'})",
                    stage.element,
                    _line(el, COUNTS_AS),
                )
            )


_shipped: StageTable | None = None
_shipped_lock = threading.Lock()
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def shipped(root: Path | None = None) -> StageTable:
    """The stage table of the shipped processes (processes/, without variants), read once.

    For what has no bundle of its own: a bundle that declares no stages, and callers without a bundle."""
    global _shipped
    if root is not None:
        return _read_dir(root)
    with _shipped_lock:
        if _shipped is None:
            _shipped = _read_dir(DEFAULT_PROCESSES_DIR)
        return _shipped


def _read_dir(root: Path) -> StageTable:
    trees = {
        p.relative_to(root).as_posix(): etree.parse(str(p), _PARSER).getroot()
        for p in sorted(root.rglob("*.bpmn"))
        if "variants" not in p.relative_to(root).parts
    }
    errors: list[dict] = []
    table = read(trees, errors, fallback=False)
    if errors:
        raise ValueError(f"the shipped processes declare their stages wrongly: {errors}")
    return table
