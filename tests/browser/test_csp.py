"""The Content-Security-Policy holds in a real browser, and a violation fails the test that caused it."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.pages import log_in


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
