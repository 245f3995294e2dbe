"""Forms never fetch (issue 20, point 8).

A task form's `$ref` may only point inside the form (`#` or `#/...` naming something in it): any other (a URL,
the cloud's metadata, a file, a relative document, an anchor, a pointer to nothing, a `$dynamicRef` elsewhere,
an `$id` below the root) is refused at deploy, naming the form file and the JSON pointer of the offending
keyword. Validating a submission retrieves nothing: jsonschema's default would fetch an http:// or file://
`$ref`; the form's registry refuses, so even a form stored before the check cannot make the server fetch. Each
attempt is a case; what touches the database runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import socket
import urllib.request

import pytest

from engine import Actor
from engine.errors import InvalidFormData, InvalidProcess
from engine.process import definitions
from engine.process.definitions import parse_bundle, read_bundle_dir
from engine.process.forms import validate_submission
from engine.services import processes, rmas
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE, actor, rma_payload
from tests.web.conftest import ApiDriver

FORM = "forms/record_condition.json"
OWNER = Actor("owner", "process_owner")
NOTES = {"type": "string", "minLength": 1, "maxLength": 20}

# (case, the keyword and its value put where the form's condition notes are, the offending keyword's pointer)
REFUSED = [
    ("remote URL", {"$ref": "https://schemas.example.com/notes.json"}, "/properties/condition_notes/$ref"),
    ("cloud metadata", {"$ref": "http://169.254.169.254/latest/meta-data/"}, "/properties/condition_notes/$ref"),
    ("a file", {"$ref": "file:///etc/passwd"}, "/properties/condition_notes/$ref"),
    ("a relative document", {"$ref": "notes.json"}, "/properties/condition_notes/$ref"),
    ("a relative document's part", {"$ref": "common.json#/$defs/notes"}, "/properties/condition_notes/$ref"),
    ("a network path", {"$ref": "//evil.example/notes"}, "/properties/condition_notes/$ref"),
    ("an anchor", {"$ref": "#notes"}, "/properties/condition_notes/$ref"),
    ("a pointer to nothing", {"$ref": "#/$defs/missing"}, "/properties/condition_notes/$ref"),
    ("a dynamic reference", {"$dynamicRef": "https://evil.example/m#n"}, "/properties/condition_notes/$dynamicRef"),
    ("an $id below the root", {"$id": "https://evil.example/notes.json", **NOTES}, "/properties/condition_notes/$id"),
    (
        "deep in allOf",
        {"allOf": [{"properties": {"x": {"$ref": "http://10.0.0.5/x.json"}}}]},
        "/properties/condition_notes/allOf/0/properties/x/$ref",
    ),
]


class Fetches:
    """Records every attempt to retrieve anything (a URL, a file through urlopen, a name, a connection)."""

    def __init__(self):
        self.attempts: list[str] = []
        self._getaddrinfo = socket.getaddrinfo

    def resolve(self, host, port, *args, **kwargs):
        """Numeric addresses parse as ever (a database on 127.0.0.1); a name is a retrieval attempt."""
        try:
            return self._getaddrinfo(host, port, 0, 0, 0, socket.AI_NUMERICHOST)
        except socket.gaierror:
            self.attempts.append(f"getaddrinfo: {host}")
            raise

    def refuse(self, what):
        def hook(target, *args, **kwargs):
            self.attempts.append(f"{what}: {getattr(target, 'full_url', target)}")
            raise OSError(f"the test refuses {what}")

        return hook


@pytest.fixture(autouse=True)
def fetches(monkeypatch):
    f = Fetches()
    monkeypatch.setattr(urllib.request, "urlopen", f.refuse("urlopen"))  # jsonschema's default retriever uses it
    monkeypatch.setattr(socket, "getaddrinfo", f.resolve)
    monkeypatch.setattr(socket, "create_connection", f.refuse("connect"))
    return f


def _form(notes: dict, defs: dict | None = None) -> str:
    schema = json.loads(read_bundle_dir(PROCESSES_DIR)[FORM])
    schema["properties"]["condition_notes"] = notes
    if defs is not None:
        schema["$defs"] = defs
    return json.dumps(schema, indent=2)


def _files(notes: dict, defs: dict | None = None) -> dict:
    return {**read_bundle_dir(PROCESSES_DIR), FORM: _form(notes, defs)}


@pytest.mark.parametrize(("notes", "pointer"), [pytest.param(n, p, id=case) for case, n, p in REFUSED])
def test_a_reference_outside_the_form_is_refused_at_deploy_naming_file_and_pointer(notes, pointer, fetches):
    with pytest.raises(InvalidProcess) as info:
        parse_bundle(_files(notes, {"notes": NOTES}))
    [error] = info.value.errors
    assert (error["file"], error["element"]) == (FORM, pointer), error
    assert pointer in error["message"]
    assert fetches.attempts == []


@pytest.mark.parametrize("ref", ["#/$defs/notes", "#/properties/accessories", "#/$defs/a~1b", "#/$defs/a%20c", "#"])
def test_a_reference_inside_the_form_deploys(ref):
    parsed = parse_bundle(_files({"$ref": ref}, {"notes": NOTES, "a/b": NOTES, "a c": NOTES}))
    assert parsed.forms["record_condition.json"]["properties"]["condition_notes"] == {"$ref": ref}


@pytest.mark.parametrize("ref", [notes["$ref"] for _case, notes, _pointer in REFUSED if "$ref" in notes])
def test_validation_never_retrieves_anything(ref, fetches):
    schema = {"type": "object", "properties": {"notes": {"$ref": ref}}, "$defs": {"notes": NOTES}}
    with pytest.raises(InvalidFormData) as info:
        validate_submission(schema, {"notes": "fine"})
    assert "_form" in info.value.errors and fetches.attempts == []


def test_a_local_reference_validates_inside_the_form(orc):
    processes.deploy_bundle(orc, OWNER, _files({"$ref": "#/$defs/notes"}, {"notes": NOTES}), note="notes by $ref")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    with pytest.raises(InvalidFormData) as info:
        complete_open_task(orc, "sg.reception", rma["id"], data={**INTAKE, "condition_notes": "x" * 21})
    assert info.value.errors == {"condition_notes": ["Must be at most 20 characters."]}
    done = complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    assert done["task"]["status"] == "completed"


def test_a_stored_form_with_a_remote_reference_fetches_nothing_when_a_task_is_completed(orc, fetches, monkeypatch):
    """A bundle deployed before references were checked: its form's remote $ref is refused, not fetched."""
    monkeypatch.setattr(definitions, "reference_errors", lambda schema: [])
    files = _files({"$ref": "http://169.254.169.254/latest/meta-data/iam"})
    processes.deploy_bundle(orc, OWNER, files, note="deployed before the check")
    rma = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())
    with pytest.raises(InvalidFormData) as info:
        complete_open_task(orc, "sg.reception", rma["id"], data=INTAKE)
    [message] = info.value.errors["_form"]
    assert "169.254.169.254" in message and fetches.attempts == []


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


def test_the_api_answers_422_naming_the_form_and_the_pointer(api, fetches):
    form = _form({"$ref": "file:///etc/passwd"})
    response = api.client.post(
        "/api/processes/deploy",
        data={"files": [(io.BytesIO(form.encode()), "record_condition.json")]},
        headers=api.headers("owner"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.get_json()
    [error] = response.get_json()["errors"]
    assert (error["file"], error["element"]) == (FORM, "/properties/condition_notes/$ref")
    assert "file:///etc/passwd" in error["message"] and fetches.attempts == []
