"""A deploy refuses what would run away with the engine (issue 20, points 17 and 21).

Each attempt is a case, uploaded as a process owner would (`POST /api/processes/deploy`, merged over the
current bundle): too many files, a form no task uses, a constant multi-instance cardinality over the cap, a
timer cycle or duration under a minute, a loop of a gateway and a script task with nothing on it that waits, a
form pattern RE2 cannot run. Each answer is 422 naming the file, the element (or the form's pointer) and the
line. Refusals store nothing, so they share one SQLite database; one runs on PostgreSQL too. A computed
cardinality over the cap is known only when the activity starts: the RMA goes to incident naming it (SQLite
and PostgreSQL). A pattern that backtracks in Python's `re` (`^(a+)+$`) is matched by RE2 in linear time.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from sqlalchemy import select

from engine import Actor, Orchestrator, Settings
from engine.demo import create_centres_and_users
from engine.errors import InvalidFormData
from engine.process import limits
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.process.forms import validate_submission
from engine.services import processes, rmas
from engine.store.model import Incident, Rma
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.web.conftest import ApiDriver
from web.cli import init_database

BASE = read_bundle_dir(PROCESSES_DIR)
INTAKE_STAGE, DIAGNOSIS_STAGE = "stages/rma_intake.bpmn", "stages/rma_diagnosis.bpmn"
FORM = "forms/record_condition.json"
SLA = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2D"</bpmn:timeDuration>'
OWNER = Actor("owner", "process_owner")


def _intake_with(extra: str, first: str) -> str:
    """The intake stage with `extra` (elements and flows, ending in flow `flow_from_extra` to the end event)
    between the intake task and the end: the task's flow goes to `first`."""
    text = BASE[INTAKE_STAGE]
    flow = 'sourceRef="record_condition" targetRef="end"'
    assert flow in text
    text = text.replace(flow, f'sourceRef="record_condition" targetRef="{first}"')
    text = text.replace("<bpmn:incoming>flow_to_end</bpmn:incoming>", "<bpmn:incoming>flow_from_extra</bpmn:incoming>")
    return text.replace("</bpmn:process>", extra + "</bpmn:process>")


def _multi_instance(cardinality: str) -> str:
    return _intake_with(
        f"""<bpmn:scriptTask id="count_parts" name="Count parts">
      <bpmn:incoming>flow_to_end</bpmn:incoming><bpmn:outgoing>flow_from_extra</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="false">
        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>counted = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="flow_from_extra" sourceRef="count_parts" targetRef="end" />
""",
        "count_parts",
    )


def _loop(bump_tag: str = "scriptTask") -> str:
    body = "<bpmn:script>rounds = 1</bpmn:script>" if bump_tag == "scriptTask" else ""
    return _intake_with(
        f"""<bpmn:exclusiveGateway id="again" default="flow_from_extra">
      <bpmn:incoming>flow_to_end</bpmn:incoming><bpmn:incoming>flow_back</bpmn:incoming>
      <bpmn:outgoing>flow_from_extra</bpmn:outgoing><bpmn:outgoing>flow_to_bump</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:{bump_tag} id="bump">
      <bpmn:incoming>flow_to_bump</bpmn:incoming><bpmn:outgoing>flow_back</bpmn:outgoing>{body}
    </bpmn:{bump_tag}>
    <bpmn:sequenceFlow id="flow_from_extra" sourceRef="again" targetRef="end" />
    <bpmn:sequenceFlow id="flow_to_bump" sourceRef="again" targetRef="bump">
      <bpmn:conditionExpression>condition_notes != ''</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow_back" sourceRef="bump" targetRef="again" />
""",
        "again",
    )


def _timer(kind: str, value: str) -> str:
    assert SLA in BASE[DIAGNOSIS_STAGE]
    return BASE[DIAGNOSIS_STAGE].replace(SLA, f'<bpmn:{kind} xsi:type="bpmn:tFormalExpression">"{value}"</bpmn:{kind}>')


def _form(**notes) -> str:
    schema = json.loads(BASE[FORM])
    schema["properties"]["condition_notes"].update(notes)
    return json.dumps(schema, indent=2)


def _line(text: str, needle: str, after: str = "") -> int:
    return text[: text.index(needle, text.index(after))].count("\n") + 1


def _photos_pattern(pattern: str) -> str:
    schema = json.loads(BASE[FORM])
    schema["properties"]["photos"]["items"]["pattern"] = pattern
    return json.dumps(schema, indent=2)


# (case, uploaded {bundle name: text}, the error's file, element, line (None: the file has none to give), words)
MI_TEXT = _multi_instance("10 ** 5")
LOOP_TEXT = _loop()
CYCLE_TEXT, DURATION_TEXT = _timer("timeCycle", "R/PT0S"), _timer("timeDuration", "PT1S")
UNUSED = json.dumps({"type": "object", "properties": {}}, indent=2)
BACKREF, PATTERN_PROPS = _form(pattern="^(a+)\\1$"), _form(patternProperties={"^x": {"type": "string"}})
LOOKAHEAD = _photos_pattern("^(?=[0-9a-f]{64}$).*")
FILLERS = {f"notifications/filler_{i}.en.txt": "x" for i in range(limits.MAX_BUNDLE_FILES + 1 - len(BASE))}
REFUSED = [
    ("file count over the cap", FILLERS, "files", None, None, f"at most {limits.MAX_BUNDLE_FILES}"),
    ("a form no task uses", {"forms/unused.json": UNUSED}, "forms/unused.json", None, 1, "used by no user"),
    (
        "multi-instance cardinality 10 ** 5",
        {INTAKE_STAGE: MI_TEXT},
        INTAKE_STAGE,
        "count_parts",
        _line(MI_TEXT, "<bpmn:loopCardinality>"),
        f"more than {limits.MAX_INSTANCES}",
    ),
    (
        "timer cycle R/PT0S",
        {DIAGNOSIS_STAGE: CYCLE_TEXT},
        DIAGNOSIS_STAGE,
        "diagnosis_overdue",
        _line(CYCLE_TEXT, "<bpmn:timeCycle"),
        "cycle 'R/PT0S' is shorter than 60 seconds",
    ),
    (
        "timer duration PT1S",
        {DIAGNOSIS_STAGE: DURATION_TEXT},
        DIAGNOSIS_STAGE,
        "diagnosis_overdue",
        _line(DURATION_TEXT, '"PT1S"'),
        "duration 'PT1S' is shorter than 60 seconds",
    ),
    (
        "loop of a gateway and a script task with no wait state",
        {INTAKE_STAGE: LOOP_TEXT},
        INTAKE_STAGE,
        "again",
        _line(LOOP_TEXT, '<bpmn:exclusiveGateway id="again"'),
        "again, bump",
    ),
    (
        "a pattern with a backreference",
        {FORM: BACKREF},
        FORM,
        "/properties/condition_notes/pattern",
        _line(BACKREF, '"pattern"'),
        "linear time",
    ),
    (
        "a lookahead in a list's items",
        {FORM: LOOKAHEAD},
        FORM,
        "/properties/photos/items/pattern",
        _line(LOOKAHEAD, '"pattern"', after='"photos"'),
        "linear time",
    ),
    (
        "patternProperties",
        {FORM: PATTERN_PROPS},
        FORM,
        "/properties/condition_notes/patternProperties",
        _line(PATTERN_PROPS, '"patternProperties"'),
        "propertyNames",
    ),
]


def _upload(api: ApiDriver, files: dict[str, str]):
    return api.client.post(
        "/api/processes/deploy",
        data={"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()]},
        headers=api.headers("owner"),
        content_type="multipart/form-data",
    )


def _assert_refused(response, file, element, line, words) -> None:
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert len(errors) == 1, errors
    [error] = errors
    assert (error["file"], error["element"], error["line"]) == (file, element, line), error
    assert words in error["message"], error


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory):
    """One SQLite database with the shipped processes for every refusal (a refusal stores nothing)."""
    tmp = tmp_path_factory.mktemp("deploy_caps")
    settings = Settings.from_env(
        {},
        database_url=f"sqlite:///{tmp / 'rma.sqlite3'}",
        instance_dir=tmp,
        upload_dir=tmp / "uploads",
        secret_key="test-secret",
        run_worker=False,
    )
    orc = Orchestrator(settings)
    orc.migrate()
    create_centres_and_users(orc)
    init_database(orc)
    from web import create_app

    yield ApiDriver(create_app({"RMA_ORCHESTRATOR": orc, "TESTING": True}).test_client()), orc
    orc.dispose()


@pytest.mark.parametrize(
    ("files", "file", "element", "line", "words"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED]
)
def test_a_runaway_is_refused_at_deploy_with_422_naming_file_element_and_line(
    shared_api, files, file, element, line, words
):
    api, orc = shared_api
    with orc.reading() as s:
        before = s.scalar(select(processes.Bundle.id).order_by(processes.Bundle.id.desc()).limit(1))
    _assert_refused(_upload(api, files), file, element, line, words)
    with orc.reading() as s:
        assert s.scalar(select(processes.Bundle.id).order_by(processes.Bundle.id.desc()).limit(1)) == before


def test_the_loop_is_refused_on_each_database(client):
    """The same path on SQLite and PostgreSQL (the refusal comes before anything is stored)."""
    api = ApiDriver(client)
    _assert_refused(_upload(api, {INTAKE_STAGE: LOOP_TEXT}), INTAKE_STAGE, "again", REFUSED[5][4], "again, bump")


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({INTAKE_STAGE: _multi_instance(str(limits.MAX_INSTANCES))}, id="cardinality at the cap"),
        pytest.param({INTAKE_STAGE: _multi_instance("len(condition_notes) * 10 ** 4")}, id="computed cardinality"),
        pytest.param({DIAGNOSIS_STAGE: _timer("timeCycle", "R/PT1M")}, id="cycle of a minute"),
        pytest.param({DIAGNOSIS_STAGE: _timer("timeDuration", "PT60S")}, id="duration of a minute"),
        pytest.param({DIAGNOSIS_STAGE: _timer("timeDate", "2030-01-01T00:00:00+00:00")}, id="a date"),
        pytest.param({INTAKE_STAGE: _loop("receiveTask")}, id="loop that waits for a message"),
        pytest.param({FORM: _form(pattern="^(a+)+$")}, id="backtracking pattern RE2 runs"),
    ],
)
def test_what_is_within_the_limits_deploys(files):
    """The other side of each limit: a deploy accepts it (so the refusals above are the limits, not any change)."""
    parse_bundle({**BASE, **files}, deploy=True)


def test_a_computed_cardinality_over_the_cap_puts_the_rma_in_incident_naming_the_activity(orc):
    processes.deploy_bundle(
        orc, OWNER, {INTAKE_STAGE: _multi_instance("len(condition_notes) * 10 ** 4")}, merge=True, note="parts"
    )
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    started = time.monotonic()
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)  # "Clean unit": 100,000 instances
    assert time.monotonic() - started < 10
    with orc.reading() as s:
        assert s.get(Rma, rma["id"]).status == "incident"
        [incident] = s.scalars(select(Incident).where(Incident.rma_id == rma["id"])).all()
        assert incident.task_name == "count_parts", incident.error
        assert f"100000 instances, more than {limits.MAX_INSTANCES}" in incident.error


def test_a_computed_cardinality_within_the_cap_runs(sqlite_orc):
    orc = sqlite_orc
    processes.deploy_bundle(orc, OWNER, {INTAKE_STAGE: _multi_instance("len(condition_notes)")}, merge=True, note="x")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    with orc.reading() as s:
        assert s.get(Rma, rma["id"]).status != "incident"
        assert s.scalars(select(Incident).where(Incident.rma_id == rma["id"])).all() == []


def test_a_backtracking_pattern_is_matched_in_linear_time():
    """`^(a+)+$` takes minutes in Python's re on 34 characters and a non-match; RE2 answers at once."""
    schema = json.loads(_form(pattern="^(a+)+$"))
    started = time.monotonic()
    with pytest.raises(InvalidFormData) as info:
        validate_submission(schema, {**INTAKE, "condition_notes": "a" * 34 + "!"})
    assert time.monotonic() - started < 1
    assert info.value.errors == {"condition_notes": ["Is not in the expected format."]}
    assert validate_submission(schema, {**INTAKE, "condition_notes": "a" * 34})["condition_notes"] == "a" * 34


def test_a_stored_form_with_a_pattern_re2_refuses_cannot_be_checked():
    """A form deployed before patterns were checked: its submissions are refused, never matched by re."""
    schema = json.loads(BACKREF)
    with pytest.raises(InvalidFormData) as info:
        validate_submission(schema, {**INTAKE, "condition_notes": "aa"})
    assert "_form" in info.value.errors


def test_a_partial_upload_that_stops_using_a_form_removes_it(sqlite_orc):
    """A form only the replaced stage used goes with it: a partial upload cannot delete files otherwise."""
    stage = BASE[INTAKE_STAGE].replace('value="record_condition.json"', 'value="condition_v2.json"')
    uploads = [("rma_intake.bpmn", stage.encode()), ("condition_v2.json", BASE[FORM].encode())]
    result = processes.deploy_upload(sqlite_orc, OWNER, uploads, note="the intake form renamed")
    assert result["created"]
    with sqlite_orc.reading() as s:
        files = s.get(processes.Bundle, result["id"]).files
    assert "forms/condition_v2.json" in files and FORM not in files
