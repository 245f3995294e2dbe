"""RMA search terms: what staff type to find an RMA, as indexed prefixes (table rma_search_terms).

An RMA's number, serial number, customer name and email are folded (accents dropped, case folded,
white space collapsed) and stored from the start of every word on: "Anna Müller" gives "anna muller"
and "muller"; "RMA-SG-000123" gives "rma-sg-000123", "sg-000123" and "000123". The email is stored
whole (its words such as the domain are shared by too many RMAs to be useful). A search is a prefix
of one of those terms, i.e. it starts at the beginning of a word: "Mül", "lee wo", "RMA-SG-0001",
"000123", "anna.m" match; a fragment inside a word ("ller", "0123") does not.

The lookup is a range on the term index (`term >= :prefix AND term < :next`), the same on SQLite and
PostgreSQL (the column is compared byte-wise: collation "C" on PostgreSQL, BINARY on SQLite).
Pure functions: the model's listener (engine.store.model), the migration (0010) and bench/bulkgen.py use them.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERM = 120  # characters kept of a term (and of a search); longer searches compare their first 120
MAX_WORDS = 12  # word starts indexed per field
_SPACE = re.compile(r"\s+")
_WORD_START = re.compile(r"(?<![^\W_])[^\W_]")  # an alphanumeric character not preceded by one
_LEADING = re.compile(r"^[\W_]+")


def fold(value: str | None) -> str:
    """Lower-cased, accents dropped ("Müller" -> "muller", "Straße" -> "strasse"), white space collapsed."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return _SPACE.sub(" ", text).strip()


def word_suffixes(value: str | None) -> list[str]:
    """The folded value from the start of each of its words on (at most MAX_WORDS, MAX_TERM characters each)."""
    text = fold(value)
    starts = [m.start() for m in _WORD_START.finditer(text)][:MAX_WORDS]
    return [text[i : i + MAX_TERM] for i in starts]


def terms_for(
    number: str | None, serial_number: str | None, customer_name: str | None, customer_email: str | None
) -> set[str]:
    """Every term an RMA is found by."""
    terms = set(word_suffixes(number)) | set(word_suffixes(serial_number)) | set(word_suffixes(customer_name))
    email = fold(customer_email)[:MAX_TERM]
    if email:
        terms.add(email)
    return terms


def search_prefix(query: str | None) -> str:
    """The prefix a search looks up: folded, leading punctuation dropped (terms start with a letter or digit)."""
    return _LEADING.sub("", fold(query))[:MAX_TERM]


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """(low, high): every string that starts with `prefix`, and only those, is >= low and < high (code point order)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF or 0xD7FF <= last < 0xE000:  # no next character to bound with: open-ended
        return prefix, None
    return prefix, prefix[:-1] + chr(last + 1)
