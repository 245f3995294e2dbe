"""The attack suite of issue 20 ("Trust at the door"): one module per point, each attempt a test case, on SQLite
and PostgreSQL. `FAMILIES` groups the modules as the issue does; every run that includes them ends with a table
of attempts, held and failed per family (`tests/conftest.py`, `pytest_terminal_summary`)."""

FAMILIES = {
    "Nobody logs in without a password (1-5)": (
        "test_secret_key",
        "test_sessions",
        "test_next_redirects",
        "test_csp",
        "test_login_throttle",
    ),
    "Nothing reaches inside the network (6-8)": ("test_outbound_policy", "test_no_echo", "test_form_refs"),
    "No centre sees another's customers; nobody acts as someone else (9-11)": ("test_centres_and_roles",),
    "Bad input gets a clear 4xx and nothing is lost (12-18)": (
        "test_bad_input",
        "test_schemathesis",
        "test_uploads_images",
        "test_idempotency",
        "test_command_races",
        "test_csv_and_vocabulary",
        "test_idn_email",
    ),
    "A process owner's mistake or malice cannot freeze the server (19-21)": (
        "test_decimal_bounds",
        "test_command_budget",
        "test_deploy_caps",  # and point 17 (files per deploy, unused forms)
        "test_sqlite_load",
    ),
}


def family_of(nodeid: str) -> str | None:
    """The family of a test id such as `tests/security/test_csp.py::test_x[sqlite]` (browser CSP tests included)."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    if not (nodeid.startswith("tests/security/") or module in ("test_schemathesis", "test_csp")):
        return None
    return next((family for family, modules in FAMILIES.items() if module in modules), "(not in a family)")
