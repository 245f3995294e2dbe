from __future__ import annotations

import pytest

from engine.process.definitions import parse_bundle, read_bundle_dir
from tests.conftest import PROCESSES_DIR


@pytest.fixture(scope="session")
def parsed():
    """The shipped base bundle, parsed once (specs are immutable; instances are per test)."""
    return parse_bundle(read_bundle_dir(PROCESSES_DIR))


@pytest.fixture(scope="session")
def parsed_de():
    """Centre DE's bundle as the engine builds it: the base with variants/DE/ laid over it."""
    return parse_bundle(read_bundle_dir(PROCESSES_DIR, "DE"))


@pytest.fixture(scope="session")
def parsed_sg():
    """Centre SG's bundle: the base with variants/SG/ (the approval stage with the loan offer) laid over it."""
    return parse_bundle(read_bundle_dir(PROCESSES_DIR, "SG"))
