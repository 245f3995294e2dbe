"""engine.customer.notifications.names_used: which context names a message template reads, so that the step
reads from the database only what the messages to render will show. Worked out once, when the bundle's templates
are compiled (engine.process.messages)."""

from __future__ import annotations

from engine.customer.notifications import names_used, render
from engine.process.messages import compile_templates


def _templates(sources: dict[str, str]):
    errors: list[dict] = []
    templates = compile_templates({f"notifications/{name}": text for name, text in sources.items()}, errors)
    assert errors == []
    return templates


def test_names_are_those_the_template_reads_and_an_edit_is_a_new_bundle():
    first = _templates(
        {
            "shipped.en.txt": "{% block subject %}{{ rma.number }}{% endblock %}"
            "{% block body %}{{ tracking_url }}{% endblock %}"
        }
    )
    assert names_used(first, "shipped", "en") == {"rma", "tracking_url"}
    edited = _templates(
        {
            "shipped.en.txt": "{% block subject %}{{ rma.number }}{% endblock %}"
            "{% block body %}{{ photos|length }} photos{% endblock %}"
        }
    )
    assert names_used(edited, "shipped", "en") == {"rma", "photos"}
    assert names_used(first, "shipped", "en") == {"rma", "tracking_url"}  # the first version keeps its template
    rendered = render(edited, "shipped", "en", {"rma": {"number": "RMA-1"}, "photos": [1, 2]})
    assert rendered.body == "2 photos"


def test_a_template_that_includes_another_may_read_anything():
    templates = _templates(
        {
            "footer.txt": "{{ quote.total }}",
            "quoted.en.txt": "{% block body %}Hello {% include 'footer.txt' %}{% endblock %}",
        }
    )
    assert names_used(templates, "quoted", "en") is None
    assert render(templates, "quoted", "en", {"quote": {"total": 12}}).body == "Hello 12"


def test_a_language_without_a_template_uses_the_english_one_and_no_template_reads_nothing():
    templates = _templates({"ready.en.txt": "{% block body %}{{ quote.total }}{% endblock %}"})
    assert names_used(templates, "ready", "de") == {"quote"}
    assert names_used(templates, "unknown_message", "en") == frozenset()
