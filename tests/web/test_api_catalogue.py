"""The product catalogue through the API: managers save and import models; bad files import nothing."""

from __future__ import annotations

import io

GOOD = (
    "model,category,warranty_months,replacement_value,currency,successor_model,known_issues\n"
    "Vista X100 Camera,camera,24,400,SGD,Vista X200 Camera,Does the LED stay dark? => Charge it; Try another cable\n"
    "Vista X200 Camera,camera,36,700.50,SGD,,\n"
)


def upload(api, username, data: bytes, filename="models.csv"):
    return api.client.post(
        "/api/catalogue/import",
        headers=api.headers(username),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), filename)},
    )


def models(client) -> dict:
    return {m["model"]: m for m in client.get("/api/catalogue").get_json()}


def test_manager_imports_a_csv_and_the_models_are_listed_with_their_known_issues(api, client):
    response = upload(api, "manager", GOOD.encode())
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"imported": 2, "created": 2, "updated": 0}
    listed = models(client)
    assert listed["Vista X100 Camera"]["successor_model"] == "Vista X200 Camera"
    assert listed["Vista X200 Camera"]["replacement_value"] == 700.5
    assert listed["Vista X100 Camera"]["known_issues"][0]["steps"] == ["Charge it", "Try another cable"]
    assert upload(api, "manager", GOOD.encode()).get_json() == {"imported": 2, "created": 0, "updated": 2}


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(api, client):
    bad = (
        GOOD + "Vista Z,camera,many,abc,SGD,,\nVista X100 Camera,camera,12,100,SGD,,\nDome C1,cctv,24,300,sgdollars,,\n"
    )
    response = upload(api, "manager", bad.encode())
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    by_line = {(e["line"], e["column"]) for e in errors}
    assert {(4, "warranty_months"), (4, "replacement_value"), (5, "model"), (6, "currency")} <= by_line
    assert models(client) == {}


def test_unknown_successor_refuses_the_whole_file(api, client):
    data = "model,category,warranty_months,replacement_value,currency,successor_model\nA1,camera,24,100,SGD,Nope 9\n"
    response = upload(api, "manager", data.encode())
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"line": 2, "column": "successor_model", "message": "'Nope 9' is neither in this file nor in the catalogue"}
    ]
    assert models(client) == {}


def test_files_that_are_not_a_catalogue_csv_are_refused(api):
    cases = {
        b"": "The file is empty.",
        b"\x89PNG\r\n\x1a\n\x00\x00binary": "Not UTF-8 text (save the sheet as CSV UTF-8).",
        b"name,price\nA,1\n": "Missing column 'model'.",
        b"model,category,warranty_months,replacement_value,currency\n": "The file has a header but no models.",
    }
    for data, message in cases.items():
        response = upload(api, "manager", data)
        assert response.status_code == 422, (data, response.get_json())
        assert message in [e["message"] for e in response.get_json()["errors"]], (data, response.get_json())


def test_only_managers_change_the_catalogue(api, client):
    assert upload(api, "sg.reception", GOOD.encode()).status_code == 403
    model = {"model": "Dome C1", "category": "cctv", "warranty_months": 24, "replacement_value": 300, "currency": "SGD"}
    assert api.post("sg.tech", "/api/catalogue", model).status_code == 403
    assert client.post("/api/catalogue/import").status_code == 401
    assert models(client) == {}


def test_manager_saves_then_removes_a_model(api, client):
    model = {
        "model": "Dome  C1",
        "category": "cctv",
        "warranty_months": 24,
        "replacement_value": 300,
        "currency": "SGD",
        "known_issues": [{"code": "no_image", "question": "Black image?", "steps": ["Check the PoE switch."]}],
    }
    saved = api.post("manager", "/api/catalogue", model)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["model"] == "Dome C1" and saved.get_json()["updated_by"] == "manager"
    bad = api.post("manager", "/api/catalogue", {**model, "currency": "dollars"})
    assert bad.status_code == 422 and "currency" in bad.get_json()["errors"]
    gone = client.delete("/api/catalogue/Dome C1", headers=api.headers("manager"))
    assert gone.status_code == 204
    assert models(client) == {}
    assert client.delete("/api/catalogue/Dome C1", headers=api.headers("manager")).status_code == 404


def test_a_model_or_category_of_only_spaces_is_a_field_error(api, client):
    model = {"model": "Dome C1", "category": "cctv", "warranty_months": 24, "replacement_value": 300, "currency": "SGD"}
    for field, blank in (("model", "\r"), ("model", " \n\t"), ("category", "   ")):
        bad = api.post("manager", "/api/catalogue", {**model, field: blank})
        assert bad.status_code == 422, (field, blank, bad.get_json())
        assert list(bad.get_json()["errors"]) == [field]
    assert models(client) == {}
    saved = api.post("manager", "/api/catalogue", {**model, "category": " cctv "})
    assert saved.status_code == 200 and saved.get_json()["category"] == "cctv"
