"""engine.customer.notifications.names_used: which context names a message template reads, so that the step
reads from the database only what the messages to render will show."""

from __future__ import annotations

import os
import time

from engine.customer.notifications import names_used, render


def _write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 5  # a later mtime, as an edit would give it (Jinja reloads on a changed mtime)
    os.utime(path, (stamp, stamp))


def test_names_are_those_the_template_reads_and_follow_an_edit(tmp_path):
    _write(
        tmp_path,
        "shipped.en.txt",
        "{% block subject %}{{ rma.number }}{% endblock %}{% block body %}{{ tracking_url }}{% endblock %}",
    )
    assert names_used(tmp_path, "shipped", "en") == {"rma", "tracking_url"}
    _write(
        tmp_path,
        "shipped.en.txt",
        "{% block subject %}{{ rma.number }}{% endblock %}{% block body %}{{ photos|length }} photos{% endblock %}",
    )
    assert names_used(tmp_path, "shipped", "en") == {"rma", "photos"}
    rendered = render(tmp_path, "shipped", "en", {"rma": {"number": "RMA-1"}, "photos": [1, 2]})
    assert rendered.body == "2 photos"


def test_a_template_that_includes_another_may_read_anything(tmp_path):
    _write(tmp_path, "footer.txt", "{{ quote.total }}")
    _write(tmp_path, "quoted.en.txt", "{% block body %}Hello {% include 'footer.txt' %}{% endblock %}")
    assert names_used(tmp_path, "quoted", "en") is None


def test_a_language_without_a_template_uses_the_english_one_and_no_template_reads_nothing(tmp_path):
    _write(tmp_path, "ready.en.txt", "{% block body %}{{ quote.total }}{% endblock %}")
    assert names_used(tmp_path, "ready", "de") == {"quote"}
    assert names_used(tmp_path, "unknown_message", "en") == frozenset()
