"""Browser fixtures: the app on a real port, Debian's Chromium driven by Playwright, a screenshot on failure."""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path(os.environ.get("RMA_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("RMA_TEST_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def _note_csp_violation(message, violations: list[str]) -> None:
    """Chromium's own 'Refused to ...' report and our listener's both count: either means the page broke the CSP."""
    text = message.text
    if message.type == "error" and ("CSP violation" in text or "Content Security Policy" in text):
        violations.append(text)


def _browser_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class LiveServer:
    def __init__(self, app, orc):
        self.app, self.orc = app, orc
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(sqlite_orc):
    """The web app on 127.0.0.1 (free port) in a thread, over a fresh SQLite database with the demo users."""
    from web import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app({"RMA_ORCHESTRATOR": sqlite_orc, "TESTING": True})
    server = LiveServer(app, sqlite_orc).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    reason = _browser_missing_reason()
    if reason:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests are required (RMA_TEST_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(request, browser, live_server):
    """A fresh browser context (no cookies) on the live server; a full-page screenshot if the test fails."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    # Every Content-Security-Policy violation is reported as a console error, whichever frame caused it.
    context.add_init_script(CSP_REPORTER)
    tab = context.new_page()
    console_errors: list[str] = []
    csp_violations: list[str] = []
    tab.on("pageerror", lambda exc: console_errors.append(str(exc)))
    tab.on("console", lambda msg: _note_csp_violation(msg, csp_violations))
    tab.console_errors = console_errors
    tab.csp_violations = csp_violations
    yield tab
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(tab.content(), encoding="utf-8")
        except Exception as exc:  # the page may be gone; the test's own failure is what matters
            print(f"could not save a screenshot: {exc}")
    context.close()
    if csp_violations and not failed:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations), pytrace=False)
