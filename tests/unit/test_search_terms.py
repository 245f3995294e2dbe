"""engine.store.search: which words an RMA is found by, and the index range a search reads."""

from __future__ import annotations

import pytest

from engine.store import search


def test_every_word_of_number_serial_and_name_starts_a_term_and_the_email_is_one_term():
    terms = search.terms_for("RMA-SG-000123", "VX100-0000123", "Anna  Müller", "Anna.Mueller@Example.com")
    assert terms == {
        "rma-sg-000123",
        "sg-000123",
        "000123",
        "vx100-0000123",
        "0000123",
        "anna muller",
        "muller",
        "anna.mueller@example.com",
    }


def test_terms_are_folded_the_way_a_search_is():
    assert search.fold("  ÉMILE   Straße ") == "emile strasse"
    assert search.search_prefix("Mül") == "mul" and search.search_prefix("  (Lee  Wong ") == "lee wong"
    assert search.search_prefix("") == "" and search.search_prefix(" -- ") == ""


def test_missing_fields_give_no_terms_and_long_values_are_cut():
    assert search.terms_for(None, "", None, None) == set()
    long_name = " ".join(["w"] * 40)
    terms = search.word_suffixes(long_name)
    assert len(terms) == search.MAX_WORDS and all(len(t) <= search.MAX_TERM for t in terms)
    assert search.search_prefix("x" * 500) == "x" * search.MAX_TERM


@pytest.mark.parametrize("prefix", ["mul", "rma-sg-00", "a", "z", "ü", "9"])
def test_the_range_holds_exactly_the_strings_with_the_prefix(prefix):
    low, high = search.prefix_range(prefix)
    candidates = [
        prefix,
        prefix + "a",
        prefix + "\U0010ffff",
        prefix[:-1],
        prefix[:-1] + chr(ord(prefix[-1]) + 1),
        prefix + " x",
        "",
        "zzzz",
        prefix.upper(),
    ]
    for value in candidates:
        assert (low <= value < high) == value.startswith(prefix), value
