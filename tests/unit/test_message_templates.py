"""Message templates as bundle files (engine.process.messages): read with the processes (and a centre's overrides),
hashed with them, compiled once per bundle, checked at deploy against every message the BPMN declares; rendered by
engine.customer.notifications with the texts the engine sent before they were templates."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.customer.notifications import render
from engine.errors import InvalidProcess
from engine.process.bundle_files import bundle_name
from engine.process.definitions import SpecCache, bundle_hash, parse_bundle, read_bundle_dir
from engine.process.messages import compile_templates, declared_messages, message_errors
from tests.conftest import PROCESSES_DIR

LANGUAGES = ("en", "de")
# every message the shipped BPMN declares, by the element that triggers it
DECLARED = {
    ("rma.bpmn", "stage_warranty", "diagnosis_complete"),
    ("rma.bpmn", "mark_repaired", "repair_complete"),
    ("rma.bpmn", "end", "unit_shipped"),
    ("rma.bpmn", "end_resolved_remotely", "resolved_remotely"),
    ("rma.bpmn", "end_request_expired", "request_expired"),
    ("rma.bpmn", "end_replaced", "new_unit_shipped"),
    ("stages/rma_intake.bpmn", "record_condition", "intake_receipt"),
    ("stages/rma_approval.bpmn", "compute_quote", "quote_ready"),
    ("stages/rma_approval.bpmn", "approval_reminder", "approval_reminder"),
    ("stages/rma_approval.bpmn", "decline_expired_quote", "approval_expired"),
    ("stages/rma_triage.bpmn", "start", "request_received"),
    ("stages/rma_triage.bpmn", "authorise_shipment", "ship_in"),
    ("stages/rma_inbound.bpmn", "parcel_reminder", "parcel_reminder"),
}


@pytest.fixture(scope="module")
def base() -> dict[str, str]:
    return read_bundle_dir(PROCESSES_DIR)


def test_the_templates_are_bundle_files_and_the_readme_is_not(base):
    templates = {name for name in base if name.startswith("notifications/")}
    assert "notifications/intake_receipt.de.txt" in templates and "notifications/staff_sla_breached.en.txt" in templates
    assert all(name.endswith(".txt") for name in templates)


def test_a_template_is_part_of_the_hash(base):
    edited = {**base, "notifications/ship_in.en.txt": base["notifications/ship_in.en.txt"].replace("Please", "Do")}
    assert bundle_hash(edited) != bundle_hash(base)


def test_a_centre_overrides_a_template_by_name(tmp_path, base):
    for name, text in base.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "notifications" / "_README.md").write_text("# not a bundle file", encoding="utf-8")
    override = tmp_path / "variants" / "DE" / "notifications" / "unit_shipped.de.txt"
    override.parent.mkdir(parents=True)
    override.write_text("{% block subject %}Unterwegs{% endblock %}{% block body %}Ja{% endblock %}", encoding="utf-8")
    assert read_bundle_dir(tmp_path) == base
    files = read_bundle_dir(tmp_path, centre="DE")
    assert files["notifications/unit_shipped.de.txt"].startswith("{% block subject %}Unterwegs")
    assert files["notifications/unit_shipped.en.txt"] == base["notifications/unit_shipped.en.txt"]
    rendered = render(parse_bundle(files).messages, "unit_shipped", "de", {})
    assert (rendered.subject, rendered.body) == ("Unterwegs", "Ja")


def test_every_message_is_declared_by_the_element_that_triggers_it(base):
    parsed = parse_bundle(base, LANGUAGES)
    trees = {name: etree.fromstring(text.encode()) for name, text in base.items() if name.endswith(".bpmn")}
    assert {(file, el.get("id"), message) for file, el, message in declared_messages(trees)} == DECLARED
    for _, _, message in DECLARED:
        assert parsed.messages.languages(message) == set(LANGUAGES), message
    assert message_errors(trees, base, LANGUAGES, {"staff_sla_breached": ("en",)}) == []


def test_the_templates_are_compiled_once_per_bundle(base):
    cache = SpecCache()
    first = cache.get(bundle_hash(base), lambda: base)
    again = cache.get(bundle_hash(base), lambda: base)
    assert again.messages.get("ship_in", "en") is first.messages.get("ship_in", "en") is not None
    assert cache.parses == 1


def test_a_stored_bundle_from_before_templates_were_bundled_still_parses(base):
    """Loading a stored bundle does not re-check its messages: one deployed before templates were bundle files has
    none (its RMAs use the processes folder's templates, engine.customer.notifications.templates_of)."""
    old = {name: text for name, text in base.items() if not name.startswith("notifications/")}
    assert not parse_bundle(old).messages
    with pytest.raises(InvalidProcess):
        parse_bundle(old, LANGUAGES)


def test_an_uploaded_txt_file_is_a_message_template():
    assert bundle_name("ship_in.de.txt", "...") == "notifications/ship_in.de.txt"
    assert bundle_name("C:\\exports\\quote_ready.en.txt", "...") == "notifications/quote_ready.en.txt"


CONTEXT = {
    "rma": {"number": "RMA-SG-000007", "product_model": "Vista X100 Camera", "outcome": "replaced"},
    "centre": {"name": "Singapore", "code": "SG"},
    "tracking_url": "https://rma.example/track/t",
    "request_url": "https://rma.example/request/t",
    "packing_slip_url": "https://rma.example/request/t/packing-slip",
}


@pytest.mark.parametrize(
    ("message", "outcome", "subject", "body"),
    [
        (
            "resolved_remotely",
            "resolved_remotely",
            "Your request RMA-SG-000007 is closed: solved",
            "Good news: the fault of your Vista X100 Camera is solved without a shipment, so we closed request "
            "RMA-SG-000007.",
        ),
        (
            "new_unit_shipped",
            "replaced",
            "Your new unit is on its way: RMA-SG-000007",
            "As you chose, a new Vista X100 Camera is on its way to you.",
        ),
        (
            "new_unit_shipped",
            "traded_in",
            "Your new unit is on its way: RMA-SG-000007",
            "As you chose, your trade-in unit is on its way to you.",
        ),
    ],
)
def test_the_closing_messages_keep_the_texts_they_had_in_code(base, message, outcome, subject, body):
    context = {**CONTEXT, "rma": {**CONTEXT["rma"], "outcome": outcome}}
    rendered = render(parse_bundle(base).messages, message, "en", context)
    assert (rendered.subject, rendered.body, rendered.sms) == (subject, body, "")  # email only


def test_every_customer_message_has_a_german_text_of_its_own(base):
    templates = parse_bundle(base).messages
    for message in ("request_received", "ship_in", "parcel_reminder", "resolved_remotely", "request_expired"):
        english = render(templates, message, "en", CONTEXT)
        german = render(templates, message, "de", CONTEXT)
        assert german.body and german.body != english.body and german.subject != english.subject, message


def test_an_sms_block_that_renders_empty_sends_none_and_a_missing_one_falls_back_to_subject_and_link():
    templates = compile_templates(
        {
            "notifications/quiet.en.txt": "{% block subject %}S{% endblock %}{% block body %}B{% endblock %}"
            "{% block sms %}{% endblock %}",
            "notifications/plain.en.txt": "{% block subject %}S{% endblock %}{% block body %}B{% endblock %}",
        }
    )
    assert render(templates, "quiet", "en", CONTEXT).sms == ""
    assert render(templates, "plain", "en", CONTEXT).sms == "S https://rma.example/track/t"
