"""Bad input gets a clear 4xx and nothing is lost (issue 20.12), each attempt a case, on SQLite and PostgreSQL.

JSON nested too deep is 400 (web/json_body.py); NUL or a lone surrogate in a text field or a username is 422
naming the field (web.schemas.Text, engine.process.forms.unstorable, engine.services.users.check_text); NaN,
Infinity and numbers beyond a form's maximum are 422 and the RMA stays where it was; page and per_page are
clamped (engine.services.views.page_bounds); a NUL in a search is 422, never a database error; a service task's
URL with a control character is refused at deploy naming file and element. tests/web/test_schemathesis.py fuzzes
every operation on both databases for the same: no 500.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner

from engine.services import rmas, users
from tests.helpers import INTAKE, rma_payload
from tests.security.erp_task import INTAKE as INTAKE_STAGE
from tests.security.erp_task import TASK, bundle
from tests.web.db_world import BACKENDS, world_on
from web import cli
from web.json_body import MAX_DEPTH

NUL, SURROGATE = "a\x00b", "a\ud800b"  # a lone surrogate reaches Python only through JSON's \ud800 escape
BAD_TEXT = pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone_surrogate"])
DIAGNOSIS = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": 10, "labour_hours": 1}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    with world_on(request.param, tmp_path_factory.mktemp(f"bad_{request.param}")) as made:
        yield made


def _headers(world, username: str) -> dict:
    return {"Authorization": f"Bearer {world.token(username)}"}


def _post(world, username: str | None, url: str, body: str | dict):
    data = body if isinstance(body, str) else json.dumps(body)  # json.dumps writes a lone surrogate as \ud800
    headers = _headers(world, username) if username else {}
    return world.client.post(url, data=data, headers=headers, content_type="application/json")


def _raw_number(body: dict, number: str) -> str:
    """`body` as JSON text with its value "N" written as the raw number text (NaN, Infinity, 4,000 digits)."""
    return json.dumps(body).replace('"N"', number)


def _get(world, username: str, url: str):
    return world.client.get(url, headers=_headers(world, username))


def _errors(response) -> dict:
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
    return response.get_json()["errors"]


# --- JSON nested too deep ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_json_nested_deeper_than_the_limit_is_400(world, depth):
    deep = "[" * depth + "]" * depth
    for username, url, body in [
        ("sg.reception", "/api/rmas", deep),
        (None, "/api/auth/token", '{"username": ' + deep + "}"),
        ("sg.reception", f"/api/tasks/{world.open_task('SG', 'reception')['id']}/complete", '{"data": ' + deep + "}"),
    ]:
        response = _post(world, username, url, body)
        assert response.status_code == 400, (url, response.get_json())
        assert response.get_json()["code"] == "bad_request"
        assert response.get_json()["message"] == f"the JSON document is nested deeper than {MAX_DEPTH} levels"


def test_json_at_the_depth_limit_is_read(world):
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    response = _post(world, None, "/api/auth/token", '{"username": "sg.reception", "password": ' + nested + "}")
    assert _errors(response) == {"password": ["Not a valid string."]}  # read, then refused by its field


# --- NUL and lone surrogates in text ---------------------------------------------------------------------------


@BAD_TEXT
def test_bad_text_in_rma_fields_is_422_naming_the_field(world, bad):
    for place in ("fault_description", "customer.name", "product.serial_number"):
        payload = rma_payload(serial=f"SN-BAD-{place}")
        *parents, field = place.split(".")
        target = payload
        for parent in parents:
            target = target[parent]
        target[field] = bad
        errors = _errors(_post(world, "sg.reception", "/api/rmas", payload))
        for parent in parents:
            errors = errors[parent]
        assert list(errors) == [field] and "Must not contain" in errors[field][0], place


def _text_fields(world):
    """(method, url, where, field path) for every text field a request of the OpenAPI document may carry."""
    doc = world.client.get("/api/openapi.json").get_json()
    components = doc["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = components[schema["$ref"].split("/")[-1]]
        return schema

    def strings(schema, prefix=()):
        for name, prop in (resolve(schema).get("properties") or {}).items():
            prop = resolve(prop.get("allOf", [prop])[0])
            if prop.get("readOnly"):
                continue
            if prop.get("type") == "string":
                yield (*prefix, name)
            elif prop.get("type") == "object" and "properties" in prop:
                yield from strings(prop, (*prefix, name))

    for path, operations in doc["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and resolve(parameter.get("schema", {})).get("type") == "string":
                    yield method.upper(), url, "query", (parameter["name"],)
            for media, content in (operation.get("requestBody", {}).get("content") or {}).items():
                for field in strings(content["schema"]):
                    yield method.upper(), url, media, field


def test_every_text_field_of_every_operation_refuses_nul_and_lone_surrogates_naming_the_field(world):
    """A lone surrogate arrives only in JSON (a form or a query string that is not UTF-8 is decoded with U+FFFD)."""
    tried = 0
    for method, url, where, field in _text_fields(world):
        username = "owner" if url.startswith("/api/processes") else "manager"
        for bad in (NUL, SURROGATE) if where == "application/json" else (NUL,):
            body: dict = {}
            node = body
            for part in field[:-1]:
                node = node.setdefault(part, {})
            node[field[-1]] = bad
            headers = _headers(world, username)
            if where == "query":
                response = world.client.open(url, method=method, query_string=body, headers=headers)
            elif where == "application/json":
                response = world.client.open(url, method=method, json=body, headers=headers)
            else:
                response = world.client.open(url, method=method, data=body, headers=headers, content_type=where)
            errors = _errors(response)
            for part in field:
                errors = errors.get(part) if isinstance(errors, dict) else None
            assert errors, (method, url, where, field, response.get_json())  # refused by its own field
            tried += 1
    assert tried > 40  # the document lists the fields


@BAD_TEXT
def test_bad_text_in_a_task_form_is_422_naming_the_field_and_the_task_stays_open(world, bad):
    task = world.open_task("SG", "reception", fresh=True)
    url = f"/api/tasks/{task['id']}/complete"
    errors = _errors(_post(world, "sg.reception", url, {"data": {**INTAKE, "condition_notes": bad}}))
    assert list(errors) == ["condition_notes"] and "Must not contain" in errors["condition_notes"][0]
    nested_key = _post(world, "sg.reception", url, {"data": {**INTAKE, "photos": [bad]}})
    assert list(_errors(nested_key)) == ["photos"]
    assert _post(world, "sg.reception", url, {"data": INTAKE}).status_code == 200  # nothing was lost


@BAD_TEXT
def test_bad_text_in_an_api_username_or_password_is_422_naming_it(world, bad):
    for field in ("username", "password"):
        body = {"username": "sg.reception", "password": "demo", field: bad}
        errors = _errors(_post(world, None, "/api/auth/token", body))
        assert list(errors) == [field] and "Must not contain" in errors[field][0]


def _csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _staff_client(world, username: str):
    """A test client logged in on the staff pages as `username`."""
    client = world.app.test_client()
    data = {"username": username, "password": "demo", "csrf_token": _csrf(client, "/login")}
    assert client.post("/login", data=data, environ_base={"REMOTE_ADDR": world.address()}).status_code == 302
    return client


def test_a_nul_in_the_login_forms_username_is_422_naming_it(world):
    """A browser cannot send a lone surrogate in a form (it is not UTF-8); a NUL it can."""
    client = world.app.test_client()
    data = {"username": NUL, "password": "demo", "csrf_token": _csrf(client, "/login")}
    response = client.post("/login", data=data, environ_base={"REMOTE_ADDR": world.address()})
    assert response.status_code == 422
    assert "username" in response.get_data(as_text=True) and "Must not contain NUL" in response.get_data(as_text=True)


def test_a_nul_in_the_staff_pages_username_is_422(world):
    client = _staff_client(world, "manager")
    data = {"username": "sg" + NUL, "email": "kim@example.com", "csrf_token": _csrf(client, "/manager/staff")}
    response = client.post("/manager/staff/email", data=data)
    assert response.status_code == 422  # the page is shown again (its rows name no such member)
    assert all(p["email"] != "kim@example.com" for p in users.list_staff(world.orc, world.actor("manager")))


@pytest.mark.parametrize("username", ["sg\x00x", "sg\udcffx"], ids=["nul", "lone_surrogate"])
def test_the_cli_refuses_a_username_no_column_can_store(world, monkeypatch, username):
    """A lone surrogate reaches the CLI from argv bytes that are not UTF-8 (Python's surrogateescape)."""
    monkeypatch.setattr(cli, "_orchestrator", lambda: world.orc)
    args = ["users", "add", username, "--role", "manager", "--password", "pw"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 1 and "username" in result.output and "Must not contain" in result.output
    assert users.actor_by_username(world.orc, "manager") is not None  # the command failed cleanly, nothing else


# --- NaN, Infinity, beyond the maximum -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, message",
    [
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        ("1e400", "finite"),  # read as infinity
        ("1" + "0" * 4000, "at most 1000000"),  # a 4,000-digit parts cost
        ("1000000.01", "at most 1000000"),
    ],
    ids=["nan", "infinity", "minus_infinity", "1e400", "4000_digits", "over_maximum"],
)
def test_numbers_that_are_not_finite_or_beyond_the_maximum_are_422_and_the_rma_keeps_its_place(world, number, message):
    rma = world.rma("SG", "diagnosing", fresh=True)
    task = next(t for t in rma["open_tasks"] if t["name"] == "diagnose")
    url = f"/api/tasks/{task['id']}/complete"
    body = _raw_number({"data": {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": "N"}}, number)
    errors = _errors(_post(world, "sg.tech", url, body))
    assert list(errors) == ["parts_cost"] and any(message in m for m in errors["parts_cost"]), errors
    hours = _post(world, "sg.tech", url, {"data": {**DIAGNOSIS, "labour_hours": 1001}})
    assert _errors(hours) == {"labour_hours": ["Must be at most 1000."]}
    manager = world.actor("manager")
    assert rmas.get_rma(world.orc, manager, rma["id"])["status"] == "diagnosing"
    done = _post(world, "sg.tech", url, {"data": {**DIAGNOSIS, "parts_cost": 1_000_000, "labour_hours": 1000}})
    assert done.status_code == 200 and done.get_json()["rma"]["status"] != "incident"


def test_a_4000_digit_parts_cost_on_the_staff_task_page_is_422_and_the_rma_keeps_its_place(world):
    rma = world.rma("SG", "diagnosing", fresh=True)
    task = next(t for t in rma["open_tasks"] if t["name"] == "diagnose")
    client = _staff_client(world, "sg.tech")
    form = {"diagnosis": "Dead board", "fault_category": "electronic", "parts_cost": "1" + "0" * 4000}
    response = client.post(f"/tasks/{task['id']}", data={**form, "csrf_token": _csrf(client, f"/tasks/{task['id']}")})
    assert response.status_code == 422 and "Must be a finite number." in response.get_data(as_text=True)
    assert rmas.get_rma(world.orc, world.actor("manager"), rma["id"])["status"] == "diagnosing"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e400"])
def test_nan_and_infinity_in_api_number_fields_are_422_naming_them(world, number):
    rma = world.rma("SG", "received")
    loan = _post(world, "manager", f"/api/rmas/{rma['id']}/loans", _raw_number({"unit_id": "N"}, number))
    assert list(_errors(loan)) == ["unit_id"]
    model = {"model": "Cam", "category": "camera", "warranty_months": 12, "currency": "SGD", "replacement_value": "N"}
    body = _raw_number(model, number)
    assert "replacement_value" in _errors(_post(world, "manager", "/api/catalogue", body))


# --- paging ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, page, per_page",
    [
        ("page=-5", 1, None),
        ("page=0", 1, None),
        ("page=" + "9" * 40, 1_000_000, None),
        ("per_page=1000000", 1, 200),
        ("per_page=-1", 1, 1),
        ("page=-1&per_page=0", 1, 1),
    ],
)
def test_huge_or_negative_pages_are_clamped(world, query, page, per_page):
    world.rma("SG", "received")
    for url in ("/api/rmas", "/api/tasks", "/api/incidents"):
        response = _get(world, "manager", f"{url}?{query}")
        assert response.status_code == 200, (url, response.get_json())
        answer = response.get_json()
        assert answer["page"] == page and (per_page is None or answer["per_page"] == per_page), (url, answer)


def test_staff_pages_clamp_a_huge_page_too(world):
    client = _staff_client(world, "sg.reception")
    for url in ("/inbox?page=" + "9" * 40, "/rmas?page=" + "9" * 40, "/rmas?page=-3"):
        assert client.get(url).status_code == 200, url


def test_a_nul_in_the_staff_searches_is_not_a_database_error(world):
    client = _staff_client(world, "sg.reception")
    for url in ("/rmas?q=a%00b", "/inbox?q=a%00b", "/inbox?stage=%00"):
        assert client.get(url).status_code == 200, url  # no term or stage holds a NUL: nothing found


# --- search ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/rmas?q=a%00b", "/api/rmas?centre=%00", "/api/catalogue?q=%00"])
def test_a_nul_in_a_search_is_422_naming_the_field(world, url):
    field = url.split("?")[1].split("=")[0]
    assert field in _errors(_get(world, "manager", url))


# --- a service task's URL at deploy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "'https://erp.example.com/rma/' + rma_number + '\\r\\nX-Injected: 1'",
        "f'https://erp.example.com/rma/{rma_number}\\x00'",
        "'https://erp.example.com/\\nrma'",
    ],
    ids=["crlf_after_a_variable", "nul_in_an_f_string", "newline_in_a_literal"],
)
def test_control_characters_in_a_service_task_url_are_refused_at_deploy_naming_file_and_element(world, expression):
    files = bundle(expression)
    upload = {"files": [(io.BytesIO(files[INTAKE_STAGE].encode()), "rma_intake.bpmn")]}
    response = world.client.post(
        "/api/processes/deploy", data=upload, headers=_headers(world, "owner"), content_type="multipart/form-data"
    )
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_process"
    [error] = response.get_json()["errors"]
    assert (error["file"], error["element"]) == (INTAKE_STAGE, TASK) and error["line"]
    assert "control character" in error["message"]
