"""Access control holds in the production shape: under gunicorn with several worker processes every request
may land on another process, so throttle counts and token revocations must live in the database, not in a
process's memory. (tests/web/test_auth_hardening.py proves each rule in-process; this proves it over HTTP.)
"""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlencode

import pytest

from engine.services import rmas, throttle
from tests.helpers import actor, rma_payload
from tests.integration.live_http import Client, Gunicorn

WORKERS = 3


def _raw(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Set-Cookie") or "", response.read().decode()
    finally:
        conn.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_throttles_and_revocation_hold_across_gunicorn_workers(orc, db_url, tmp_path, capsys):
    token = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload())["tracking_token"]
    server = Gunicorn(db_url, tmp_path, workers=WORKERS)
    server.start()
    http_ = Client(server.base)
    try:
        # a revoked token stops working on every worker at once
        issued = http_.ok("POST", "/api/auth/token", {"username": "sg.tech", "password": "demo"})
        bearer = {"Authorization": f"Bearer {issued['token']}"}
        assert all(_raw(server.port, "GET", "/api/me", headers=bearer)[0] == 200 for _ in range(WORKERS * 2))
        assert _raw(server.port, "POST", "/api/auth/revoke", headers=bearer)[0] == 204
        after = [_raw(server.port, "GET", "/api/me", headers=bearer)[0] for _ in range(WORKERS * 3)]
        assert set(after) == {401}, after

        # five wrong passwords spread over the workers lock the account: the right one is refused too
        wrong = [
            http_.call("POST", "/api/auth/token", {"username": "sg.qa", "password": f"guess-{n}"})[0]
            for n in range(throttle.LOGIN_PER_USER.attempts)
        ]
        assert wrong == [401] * throttle.LOGIN_PER_USER.attempts
        status, body = http_.call("POST", "/api/auth/token", {"username": "sg.qa", "password": "demo"})
        assert status == 429, body

        # the browser login: a session cookie that scripts cannot read and other sites do not send
        status, cookie, page = _raw(server.port, "GET", "/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urlencode({"username": "sg.reception", "password": "demo", "csrf_token": csrf})
        status, cookie, _ = _raw(
            server.port,
            "POST",
            "/login",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";", 1)[0]},
        )
        assert status == 302 and cookie.startswith("session="), (status, cookie)
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

        # guessing tracking links: twenty misses from one address, then even the right link is refused
        misses = [
            _raw(server.port, "GET", f"/api/portal/{token[:-3]}{n:03d}")[0]
            for n in range(throttle.PORTAL_MISSES_PER_ADDRESS.attempts)
        ]
        assert misses == [404] * throttle.PORTAL_MISSES_PER_ADDRESS.attempts
        assert _raw(server.port, "GET", f"/api/portal/{token}")[0] == 429
    finally:
        server.stop()
    log = server.log()
    assert log.count("Booting worker") >= WORKERS and "Traceback" not in log, log[-4000:]
    with capsys.disabled():
        print(
            f"\n[auth] gunicorn -w {WORKERS}: revoked token refused by {len(after)}/{len(after)} requests; "
            f"login locked after {throttle.LOGIN_PER_USER.attempts} wrong passwords; tracking-link guessing "
            f"refused after {throttle.PORTAL_MISSES_PER_ADDRESS.attempts} misses"
        )
