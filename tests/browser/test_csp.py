"""The Content-Security-Policy holds in a real browser, and a violation fails the test that caused it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.pages import log_in
from tests.browser.test_rma_journey import open_camera_rma


def test_an_injected_inline_script_is_blocked_and_reported(page: Page, live_server):
    log_in(page, "manager")
    response = page.goto("/inbox")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]

    page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__injectedRan = true";
            document.body.appendChild(s);
            const b = document.createElement("button");
            b.setAttribute("onclick", "window.__handlerRan = true");
            document.body.appendChild(b);
            b.click();
        }"""
    )
    page.wait_for_timeout(200)  # the violation events are dispatched asynchronously
    assert page.evaluate("() => [window.__injectedRan, window.__handlerRan]") == [None, None]
    assert any("script-src" in v for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()  # seen and expected: the fixture would otherwise fail this test


def test_the_receipts_print_button_prints_without_inline_script(page: Page, live_server):
    log_in(page, "sg.reception")
    open_camera_rma(page)
    page.goto("/rmas/1/receipt")
    page.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    page.get_by_role("button", name="Print").click()
    expect(page.get_by_role("heading", name="Intake receipt")).to_be_visible()
    assert page.evaluate("() => window.__printed") is True
