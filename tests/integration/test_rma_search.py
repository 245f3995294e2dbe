"""RMA search on the search-term index: word prefixes of number, serial, name and email, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from engine.services import rmas
from engine.store.db import alembic_config, make_engine
from engine.store.model import Rma, RmaSearchTerm
from tests.helpers import actor, rma_payload


@pytest.fixture
def opened(orc):
    made = {}
    for key, centre, serial, name, email in [
        ("anna", "SG", "VX100-0000123", "Anna Müller", "anna.mueller@example.com"),
        ("lee", "SG", "DC4K-77", "Lee Wong", "lee@example.com"),
        ("jonas", "DE", "NVR8-5", "Jonas Weber", "jonas@example.de"),
    ]:
        opener = "manager" if centre == "DE" else "sg.reception"
        made[key] = rmas.open_rma(
            orc, actor(orc, opener), rma_payload(centre=centre, serial=serial, name=name, email=email)
        )
    return made


def _found(orc, username, q, **filters):
    body = rmas.list_rmas(orc, actor(orc, username), q=q, **filters)
    assert body["total"] == len(body["items"])
    return sorted(item["customer"]["name"] for item in body["items"])


@pytest.mark.parametrize(
    "q, names",
    [
        ("Mül", ["Anna Müller"]),
        ("muller", ["Anna Müller"]),
        ("ANNA m", ["Anna Müller"]),
        ("lee wong", ["Lee Wong"]),
        ("wo", ["Lee Wong"]),
        ("vx100", ["Anna Müller"]),
        ("0000123", ["Anna Müller"]),
        ("dc4k-77", ["Lee Wong"]),
        ("lee@example.com", ["Lee Wong"]),
        ("anna.mu", ["Anna Müller"]),
        ("RMA-SG-", ["Anna Müller", "Lee Wong"]),
        ("RMA-", ["Anna Müller", "Jonas Weber", "Lee Wong"]),
        ("  ", ["Anna Müller", "Jonas Weber", "Lee Wong"]),
        ("ller", []),
        ("example.com", []),
        ("x" * 300, []),
        ("--", []),
    ],
)
def test_a_search_is_a_prefix_of_a_word(orc, opened, q, names):
    assert _found(orc, "manager", q) == names


def test_numbers_are_found_whole_or_by_their_digits(orc, opened):
    number = opened["lee"]["number"]
    assert _found(orc, "manager", number) == ["Lee Wong"]
    assert _found(orc, "manager", number.lower()) == ["Lee Wong"]
    assert _found(orc, "manager", number.split("-")[-1]) == ["Lee Wong"]


def test_an_rma_matched_by_several_of_its_words_counts_once(orc, opened):
    # "lee" starts the name and the email of the same RMA
    assert rmas.list_rmas(orc, actor(orc, "manager"), q="lee")["total"] == 1


def test_search_keeps_the_centre_and_status_filters(orc, opened):
    assert _found(orc, "sg.reception", "RMA-") == ["Anna Müller", "Lee Wong"]
    assert _found(orc, "de.reception", "RMA-") == ["Jonas Weber"]
    assert _found(orc, "de.reception", "anna") == []
    assert _found(orc, "manager", "RMA-", centre="DE") == ["Jonas Weber"]
    assert _found(orc, "sg.reception", "RMA-", centre="DE") == []
    assert _found(orc, "manager", "RMA-", status="received") == ["Anna Müller", "Jonas Weber", "Lee Wong"]
    assert _found(orc, "manager", "RMA-", status="closed") == []


def test_search_pages_newest_first(orc, opened):
    pages = [rmas.list_rmas(orc, actor(orc, "manager"), q="RMA-", page=p, per_page=2) for p in (1, 2)]
    assert [p["total"] for p in pages] == [3, 3]
    assert [[i["customer"]["name"] for i in p["items"]] for p in pages] == [
        ["Jonas Weber", "Lee Wong"],
        ["Anna Müller"],
    ]


def test_terms_follow_an_edit_of_the_searched_fields(orc, opened):
    with orc.uow() as uow:
        rma = uow.session.get(Rma, opened["anna"]["id"])
        rma.customer_name, rma.customer_email = "Anna Schmidt", "anna@example.org"
        uow.commit()
    assert _found(orc, "manager", "müller") == [] and _found(orc, "manager", "anna.mueller") == []
    assert _found(orc, "manager", "schmi") == ["Anna Schmidt"] and _found(orc, "manager", "anna@") == ["Anna Schmidt"]
    with orc.uow() as uow:
        terms = set(uow.session.scalars(select(RmaSearchTerm.term).where(RmaSearchTerm.rma_id == opened["anna"]["id"])))
    assert terms == {
        opened["anna"]["number"].lower(),
        "sg-" + opened["anna"]["number"][-6:],
        opened["anna"]["number"][-6:],
        "vx100-0000123",
        "0000123",
        "anna schmidt",
        "schmidt",
        "anna@example.org",
    }


def upgrade_all_but_search_terms(config) -> None:
    """Every revision 0010 comes after: their SQLite batch migrations recreate `rmas`, which rows forbid."""
    search_terms = ScriptDirectory.from_config(config).get_revision("0010")
    for parent in (search_terms.down_revision, *search_terms.dependencies):
        command.upgrade(config, parent)


def test_the_migration_indexes_rmas_opened_before_it(settings):
    """Migration 0010 writes the terms of every existing RMA."""
    engine = make_engine(settings.database_url)
    try:
        config = alembic_config(engine)
        upgrade_all_but_search_terms(config)
        now = datetime.now(UTC)
        legacy = sa.table(
            "rmas",
            *(
                sa.column(c)
                for c in (
                    "id",
                    "number",
                    "centre_code",
                    "status",
                    "customer_name",
                    "customer_email",
                    "customer_language",
                    "product_model",
                    "serial_number",
                    "purchase_date",
                    "fault_description",
                    "currency",
                    "tracking_token",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            ),
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO centres (code, name, currency, labour_rate, timezone) "
                "VALUES ('SG', 'Singapore', 'SGD', 60, 'UTC')"
            )
            conn.execute(
                legacy.insert(),
                [
                    {
                        "id": i,
                        "number": f"RMA-SG-{i:06d}",
                        "centre_code": "SG",
                        "status": "received",
                        "customer_name": name,
                        "customer_email": f"c{i}@example.com",
                        "customer_language": "en",
                        "product_model": "Vista X100 Camera",
                        "serial_number": f"SN-{i}",
                        "purchase_date": date(2025, 1, 1),
                        "fault_description": "dead",
                        "currency": "SGD",
                        "tracking_token": f"tok{i}",
                        "created_by": "x",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, name in [(1, "Grace Müller"), (2, "Kenji Ong")]
                ],
            )
        command.upgrade(config, "heads")
        with engine.connect() as conn:
            rows = set(conn.execute(select(RmaSearchTerm.rma_id, RmaSearchTerm.term, RmaSearchTerm.centre_code)))
        assert (1, "grace muller", "SG") in rows and (1, "muller", "SG") in rows and (2, "sn-2", "SG") in rows
        assert (2, "c2@example.com", "SG") in rows and (1, "000001", "SG") in rows
        assert len(rows) == 2 * 8
    finally:
        engine.dispose()
