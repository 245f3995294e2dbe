"""Issue 15.5 and 15.8: DMN tables as Camunda writes them (FEEL) and a task's instructions, end to end.

A DE variant of the diagnosis stage is deployed through the deploy API: after `diagnose`, two business rule tasks
call FEEL tables (`feel_triage`, COLLECT: one rule per FEEL form, each naming itself when it matches; `feel_band`,
UNIQUE, with computed outputs), then `review_classification` shows what they decided in its instructions
(`spiffworkflow:instructionsForEndUser`, Markdown with Jinja over the task data). RMAs driven over the HTTP API
read the decisions from `GET /api/tasks/<id>`. Cells that are not FEEL of the supported subset are refused at
deploy (422) naming file, rule, cell and line.
"""

from __future__ import annotations

import io

import pytest
from lxml import etree

from engine.process.definitions import read_bundle_dir
from tests.bpmn_edit import SPIFF, _q, insert_node, line_of, simple_form
from tests.conftest import PROCESSES_DIR
from tests.helpers import INTAKE

FEEL_TRIAGE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    id="feel_triage_definitions" name="Triage" namespace="http://camunda.org/schema/1.0/dmn"
    exporter="Camunda Modeler" exporterVersion="5.17.0" modeler:executionPlatform="Camunda Cloud">
  <decision id="feel_triage" name="Triage">
    <decisionTable id="feel_triage_table" hitPolicy="COLLECT">
      <input id="in_category" label="Fault category">
        <inputExpression id="in_category_expr" typeRef="string"><text>fault_category</text></inputExpression>
      </input>
      <input id="in_parts" label="Parts cost">
        <inputExpression id="in_parts_expr" typeRef="number"><text>parts_cost</text></inputExpression>
      </input>
      <input id="in_labour" label="Labour">
        <inputExpression id="in_labour_expr" typeRef="number"><text>labour_hours</text></inputExpression>
      </input>
      <input id="in_bought" label="Bought on">
        <inputExpression id="in_bought_expr" typeRef="date"><text>date(purchase_date)</text></inputExpression>
      </input>
      <input id="in_costly" label="Costly">
        <inputExpression id="in_costly_expr" typeRef="boolean"><text>parts_cost &gt; 100</text></inputExpression>
      </input>
      <input id="in_number" label="Diagnosis as a number">
        <inputExpression id="in_number_expr" typeRef="number"><text>number(diagnosis)</text></inputExpression>
      </input>
      <output id="out_matched" label="Matched" name="matched" typeRef="string" />
{rules}
    </decisionTable>
  </decision>
</definitions>
"""
# (rule id, cells of the six inputs, what it outputs when it matches)
TRIAGE_RULES = [
    ("r_list", ['"electronic","sensor"', "-", "-", "-", "-", "-"], "list"),
    ("r_not", ['not("liquid_damage", "physical_damage")', "-", "-", "-", "-", "-"], "not"),
    ("r_string", ['"firmware"', "-", "-", "-", "-", "-"], "string"),
    ("r_closed", ["-", "-", "[1..5]", "-", "-", "-"], "closed_range"),
    ("r_open", ["-", "-", "]1..5[", "-", "-", "-"], "open_range"),
    ("r_lt", ["-", "&lt; 10", "-", "-", "-", "-"], "lt"),
    ("r_ge", ["-", "&gt;= 3", "-", "-", "-", "-"], "ge"),
    ("r_question", ["-", "? &gt;= 0 and ? &lt; 0.5", "-", "-", "-", "-"], "tiny"),
    ("r_any", ["-", "-", "-", "-", "-", "-"], "any"),
    ("r_date", ["-", "-", "-", '&gt;= date("2020-01-01")', "-", "-"], "recent"),
    ("r_bool", ["-", "-", "-", "-", "true", "-"], "costly"),
    ("r_null", ["-", "-", "-", "-", "-", "null"], "no_number"),
    ("r_number", ["-", "-", "-", "-", "-", "42"], "forty_two"),
]
FEEL_BAND = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="feel_band_definitions" name="Band"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="feel_band" name="Band">
    <decisionTable id="feel_band_table">
      <input id="band_parts" label="Parts cost">
        <inputExpression id="band_parts_expr" typeRef="number"><text>parts_cost</text></inputExpression>
      </input>
      <output id="band_out" label="Band" name="band" typeRef="string" />
      <output id="band_note_out" label="Note" name="band_note" typeRef="string" />
      <rule id="band_low">
        <inputEntry id="band_low_in"><text>&lt; 10</text></inputEntry>
        <outputEntry id="band_low_out"><text>"low"</text></outputEntry>
        <outputEntry id="band_low_note"><text>"parts x2 = " + string(parts_cost * 2)</text></outputEntry>
      </rule>
      <rule id="band_mid">
        <inputEntry id="band_mid_in"><text>[10..100]</text></inputEntry>
        <outputEntry id="band_mid_out"><text>"mid"</text></outputEntry>
        <outputEntry id="band_mid_note"><text>null</text></outputEntry>
      </rule>
      <rule id="band_high">
        <inputEntry id="band_high_in"><text>&gt; 100</text></inputEntry>
        <outputEntry id="band_high_out"><text>"high"</text></outputEntry>
        <outputEntry id="band_high_note"><text>"parts x2 = " + string(parts_cost * 2)</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""
INSTRUCTIONS = (
    "## Check the classification\n\n"
    "matched={{ matched|join(',') }};band={{ band }};note={{ band_note }}\n\n"
    "The customer said: *{{ fault_description }}*"
)


def triage_dmn(rules=TRIAGE_RULES) -> str:
    rows = []
    for rule_id, cells, matched in rules:
        entries = "".join(
            f'<inputEntry id="{rule_id}_in{i}"><text>{cell}</text></inputEntry>' for i, cell in enumerate(cells)
        )
        rows.append(
            f'      <rule id="{rule_id}">{entries}'
            f'<outputEntry id="{rule_id}_out"><text>"{matched}"</text></outputEntry></rule>'
        )
    return FEEL_TRIAGE.replace("{rules}", "\n".join(rows))


def diagnosis_variant(instructions: str = INSTRUCTIONS) -> str:
    """The shipped diagnosis stage with the two decisions and the review task after `diagnose`."""
    xml = read_bundle_dir(PROCESSES_DIR)["stages/rma_diagnosis.bpmn"]
    xml = insert_node(
        xml, "diagnose", "bpmn:userTask", "review_classification", "Review the classification",
        {"formJsonSchemaFilename": "review_classification.json", "rmaStatus": "diagnosing"},
    )  # fmt: skip
    xml = insert_node(xml, "diagnose", "bpmn:businessRuleTask", "band", "Band the quote", {})
    xml = insert_node(xml, "diagnose", "bpmn:businessRuleTask", "triage", "Triage the fault", {})
    root = etree.fromstring(xml.encode("utf-8"))
    for task_id, decision in (("triage", "feel_triage"), ("band", "feel_band")):
        task = root.find(f".//*[@id='{task_id}']")
        ext = etree.Element(_q("bpmn:extensionElements"))
        etree.SubElement(ext, f"{{{SPIFF}}}calledDecisionId").text = decision
        task.insert(0, ext)
    review = root.find(".//*[@id='review_classification']")
    etree.SubElement(
        review.find(_q("bpmn:extensionElements")), f"{{{SPIFF}}}instructionsForEndUser"
    ).text = instructions
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def deploy(api, files: dict[str, str]):
    data = {"files": [(io.BytesIO(t.encode()), n) for n, t in files.items()], "centre": "DE"}
    return api.client.post(
        "/api/processes/deploy", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )


def variant(**changes: str) -> dict[str, str]:
    files = {
        "rma_diagnosis.bpmn": diagnosis_variant(),
        "feel_triage.dmn": triage_dmn(),
        "feel_band.dmn": FEEL_BAND,
        "review_classification.json": simple_form("Review", "reviewed_by", "Reviewed by"),
    }
    files.update(changes)
    return files


def _decided(api, months_old: int, diagnosis: dict) -> tuple[dict, dict]:
    """An RMA walked to the review task: (the review task as the API shows it, the decisions it shows)."""
    rma = api.open_rma("de.reception", centre="DE", months_old=months_old)
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    api.do("de.tech", rma["id"], "diagnose", diagnosis)
    task = api.only_task("de.tech", rma["id"])
    assert task["name"] == "review_classification", task
    shown = api.get("de.tech", f"/api/tasks/{task['id']}")
    assert shown.status_code == 200, shown.get_json()
    task = shown.get_json()
    assert task["instructions_error"] is None, task["instructions_error"]
    line = next(ln for ln in task["instructions"].splitlines() if ln.startswith("matched="))
    fields = dict(part.split("=", 1) for part in line.split(";"))
    return task, {"matched": fields["matched"].split(","), "band": fields["band"], "note": fields["note"]}


@pytest.fixture
def feel_api(api):
    response = deploy(api, variant())
    assert response.status_code == 201, response.get_json()
    return api


def test_feel_cells_decide_with_feels_meaning(feel_api):
    api = feel_api
    # electronic, 5 parts, 3 hours, bought half a year ago, a diagnosis that is no number
    _, got = _decided(
        api, 6, {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 5, "labour_hours": 3}
    )
    assert got["matched"] == ["list", "not", "closed_range", "open_range", "lt", "ge", "any", "recent", "no_number"]
    assert (got["band"], got["note"]) == ("low", "parts x2 = 10")

    # liquid damage, 0.25 parts, 5 hours (the closed end of [1..5], outside ]1..5[), bought ten years ago, "42"
    _, got = _decided(
        api, 120, {"diagnosis": "42", "fault_category": "liquid_damage", "parts_cost": 0.25, "labour_hours": 5}
    )
    assert got["matched"] == ["closed_range", "lt", "tiny", "any", "forty_two"]
    assert (got["band"], got["note"]) == ("low", "parts x2 = 0.5")

    # firmware, 150 parts (costly: the boolean input is true), 1 hour (the open end of ]1..5[)
    _, got = _decided(
        api, 6, {"diagnosis": "Flash", "fault_category": "firmware", "parts_cost": 150, "labour_hours": 1}
    )
    assert got["matched"] == ["not", "string", "closed_range", "ge", "any", "recent", "costly", "no_number"]
    assert (got["band"], got["note"]) == ("high", "parts x2 = 300")

    # a null output is null (the template shows None), and the inclusive range of the UNIQUE table holds 100
    _, got = _decided(
        api, 6, {"diagnosis": "Board", "fault_category": "mechanical", "parts_cost": 100, "labour_hours": 0}
    )
    assert got["matched"] == ["not", "ge", "any", "recent", "no_number"]
    assert (got["band"], got["note"]) == ("mid", "None")


def _refusals(api, files: dict[str, str]) -> list[dict]:
    response = deploy(api, files)
    assert response.status_code == 422, response.get_json()
    return response.get_json()["errors"]


@pytest.mark.parametrize(
    "cell, column, said",
    [
        ("[1..5", "input 'Labour' (column 3)", "expected ']', '[' or ')' closing the range"),
        ("? in ('a', 'b')", "input 'Labour' (column 3)", 'declare expressionLanguage="python"'),
        ("== 3", "input 'Labour' (column 3)", "FEEL compares with a single ="),
        ("upper case(x)", "input 'Labour' (column 3)", "not FEEL this product reads"),
        ("x &gt; 3", "input 'Labour' (column 3)", "compares with the input through '?'"),
    ],
    ids=["open_range", "python_in", "double_equals", "unknown_function", "comparison_without_input"],
)
def test_a_cell_that_is_not_feel_is_refused_naming_file_rule_cell_and_line(api, cell, column, said):
    rules = [*TRIAGE_RULES[:3], ("r_bad", ["-", "-", cell, "-", "-", "-"], "bad"), *TRIAGE_RULES[3:]]
    dmn = triage_dmn(rules)
    [error] = _refusals(api, variant(**{"feel_triage.dmn": dmn}))
    assert error["file"] == "decisions/feel_triage.dmn"
    assert error["element"] == "r_bad"
    assert error["line"] == line_of(dmn, '<rule id="r_bad">')
    assert "rule 'r_bad' (row 4)" in error["message"] and column in error["message"]
    assert said in error["message"], error["message"]


def test_a_python_boolean_in_an_output_and_unsupported_hit_policies_are_refused(api):
    band = FEEL_BAND.replace('<text>"high"</text>', "<text>True</text>")
    band = band.replace('id="feel_band_table">', 'id="feel_band_table" hitPolicy="PRIORITY">')
    errors = _refusals(api, variant(**{"feel_band.dmn": band}))
    by_element = {e["element"]: e for e in errors}
    assert set(by_element) == {"band_high", "feel_band_table"}
    assert "output 'band' (column 1)" in by_element["band_high"]["message"]
    assert "true and false" in by_element["band_high"]["message"]
    assert by_element["band_high"]["line"] == line_of(band, "<text>True</text>")
    assert "hit policy PRIORITY is not supported" in by_element["feel_band_table"]["message"]


def test_a_language_other_than_feel_or_python_is_refused(api):
    juel = FEEL_BAND.replace('id="feel_band_definitions"', 'id="feel_band_definitions" expressionLanguage="juel"')
    [error] = _refusals(api, variant(**{"feel_band.dmn": juel}))
    assert (
        error["file"] == "decisions/feel_band.dmn" and "expression language 'juel' is not supported" in error["message"]
    )


def test_feel_written_in_a_python_table_is_refused_not_read_as_a_tuple(api):
    """`"a","b"` in a table declared Python would compare the input with a tuple and never match."""
    shipped = read_bundle_dir(PROCESSES_DIR)["decisions/warranty.dmn"]
    dmn = shipped.replace(
        "<text>? in ('physical_damage', 'liquid_damage')</text>", '<text>"physical_damage","liquid_damage"</text>'
    )
    [error] = _refusals(api, {"warranty.dmn": dmn})
    assert error["file"] == "decisions/warranty.dmn" and error["element"] == "rule_damage_not_covered"
    assert "input 'Fault category' (column 1)" in error["message"] and "tuple" in error["message"]


def test_two_rules_of_a_unique_table_matching_at_run_time_is_an_incident_naming_them(api):
    """UNIQUE means exactly one: overlapping rules are not silently decided by the first (SpiffWorkflow's way)."""
    overlapping = FEEL_BAND.replace(
        '<inputEntry id="band_mid_in"><text>[10..100]', '<inputEntry id="band_mid_in"><text>[5..100]'
    )
    response = deploy(api, variant(**{"feel_band.dmn": overlapping}))
    assert response.status_code == 201, response.get_json()
    rma = api.open_rma("de.reception", centre="DE")
    api.do("de.reception", rma["id"], "record_condition", INTAKE)
    task = api.only_task("de.tech", rma["id"])
    done = api.complete(
        "de.tech",
        task["id"],
        {"diagnosis": "Board", "fault_category": "electronic", "parts_cost": 7, "labour_hours": 1},
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["rma"]["status"] == "incident"
    incidents = api.get("manager", "/api/incidents").get_json()["items"]
    [incident] = [i for i in incidents if i["rma_id"] == rma["id"]]
    assert incident["task"] == "band"
    assert "rules 'band_low' (row 1) and 'band_mid' (row 2) all match" in incident["error"], incident["error"]
    assert "a UNIQUE table needs exactly one" in incident["error"]
