"""Input the database cannot hold is refused as documented (422/404), on every backend, never a 500.

Found by tests/web/test_schemathesis.py on PostgreSQL (NUL characters, integers beyond a column, a
multipart part without a name, a centre that does not exist); pinned here so a short fuzz run that
happens not to generate them still guards them.
"""

from __future__ import annotations

import io

import pytest

NUL = "\x00"


def _multipart(api, url, username, body: bytes, boundary: str = "b0undary"):
    return api.client.post(
        url, data=body, headers=api.headers(username), content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_a_process_version_beyond_its_32_bit_column_is_not_found(api):
    for url in (f"/api/processes/{2**31}", f"/api/processes/{2**40}/files/rma.bpmn"):
        response = api.get("owner", url)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found", url
    assert api.post("owner", f"/api/processes/{2**31}/migrate", {}).status_code == 404
    assert api.get("owner", f"/api/processes/{2**31 - 1}").status_code == 404  # the largest that can exist


@pytest.mark.parametrize("url", ["/api/processes/deploy", "/api/processes/validate", "/api/requests"])
def test_a_multipart_part_without_a_name_is_an_unknown_field_not_a_crash(api, url):
    """Werkzeug keys a nameless part None; the error is reported under "" beside a part named ""."""
    body = (
        b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nnull\r\n"
        b'--b0undary\r\nContent-Disposition: form-data; name=""\r\n\r\nnull\r\n--b0undary--\r\n'
    )
    response = _multipart(api, url, "owner", body)
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input"
    assert response.get_json()["errors"] == {"": ["Unknown field."]}


@pytest.mark.parametrize(
    "files, field",
    [
        ({"qa_check.json": '{"type": "object", "title": "QA' + NUL + '"}'}, "NUL characters"),
        ({"qa" + NUL + ".json": '{"type": "object"}'}, "file name contains NUL"),
    ],
)
def test_process_files_with_nul_characters_are_refused(api, files, field):
    data = {"files": [(io.BytesIO(text.encode()), name) for name, text in files.items()]}
    response = api.client.post(
        "/api/processes/validate", data=data, headers=api.headers("owner"), content_type="multipart/form-data"
    )
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_process"
    assert field in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "method, url, json",
    [
        ("GET", "/api/processes/1?centre=%00", None),
        ("GET", "/api/dashboard?centre=%00", None),
        ("POST", "/api/webhooks", {"url": "https://erp.example.com/rma", "description": NUL}),
        ("POST", "/api/webhooks", {"url": "https://erp.example.com/rma", "secret": NUL * 20}),
        ("POST", "/api/centres/SG/loan-units", {"code": "L" + NUL, "model": "Loaner cam"}),
        ("POST", "/api/rmas/{rma}/cancel", {"reason": "Customer" + NUL}),
        ("POST", "/api/rmas/{rma}/loans", {"unit_id": 1, "note": NUL}),
        ("POST", "/api/rmas/{rma}/loans", {"unit_id": 2**64}),
        ("POST", "/api/processes/1/migrate", {"rma_ids": [2**64]}),
    ],
)
def test_text_with_nul_and_numbers_beyond_the_columns_are_422(api, method, url, json):
    username = "owner" if "/processes/" in url else "manager"
    rma = api.open_rma()
    response = api.client.open(url.format(rma=rma["id"]), method=method, json=json, headers=api.headers(username))
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input", response.get_json()


def test_a_webhook_secret_is_kept_as_given(api):
    secret = "  a secret with spaces  "
    created = api.post("manager", "/api/webhooks", {"url": "https://erp.example.com/rma", "secret": secret})
    assert created.status_code == 201 and created.get_json()["secret"] == secret


def test_a_loan_unit_for_a_centre_that_does_not_exist_is_404(api):
    response = api.post("manager", "/api/centres/XX/loan-units", {"code": "L-1", "model": "Loaner cam"})
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert api.post("manager", "/api/centres/SG/loan-units", {"code": "L-1", "model": "Loaner cam"}).status_code == 201


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, "true", None])
def test_yes_no_answers_take_json_true_or_false_only(api, value):
    """A number or a string is not a customer's yes or no (0.0 == False in Python: marshmallow's truthy sets
    took it)."""
    rma = api.open_rma()
    token = rma["tracking_token"]
    sms = api.client.post(f"/api/portal/{token}/sms", json={"opt_out": value})
    assert sms.status_code == 422 and "opt_out" in sms.get_json()["errors"], sms.get_json()
    triage = api.client.post(f"/api/requests/{token}/troubleshooting", json={"troubleshoot_solved": value})
    assert triage.status_code == 422 and "troubleshoot_solved" in triage.get_json()["errors"], triage.get_json()
