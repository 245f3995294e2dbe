"""API test helpers: log in once per user, and walk tasks through the HTTP API."""

from __future__ import annotations

import pytest

from tests.helpers import rma_payload


class ApiDriver:
    """Drives the JSON API as named demo users (bearer tokens, cached per user)."""

    def __init__(self, client):
        self.client = client
        self._tokens: dict[str, str] = {}

    def headers(self, username: str) -> dict:
        if username not in self._tokens:
            response = self.client.post("/api/auth/token", json={"username": username, "password": "demo"})
            assert response.status_code == 200, response.get_json()
            self._tokens[username] = response.get_json()["token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def get(self, username: str, url: str, **kwargs):
        return self.client.get(url, headers=self.headers(username), **kwargs)

    def post(self, username: str, url: str, json=None):
        return self.client.post(url, headers=self.headers(username), json=json)

    def open_rma(self, username: str = "sg.reception", **payload_kwargs) -> dict:
        response = self.post(username, "/api/rmas", rma_payload(**payload_kwargs))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def only_task(self, username: str, rma_id: int) -> dict:
        response = self.get(username, "/api/tasks", query_string={"rma_id": rma_id})
        assert response.status_code == 200, response.get_json()
        items = response.get_json()["items"]
        assert len(items) == 1, items
        return items[0]

    def complete(self, username: str, task_id: str, data: dict):
        return self.post(username, f"/api/tasks/{task_id}/complete", {"data": data})

    def do(self, username: str, rma_id: int, name: str, data: dict) -> dict:
        """Complete the RMA's one open task, which must be `name`; return the RMA state after it."""
        task = self.only_task(username, rma_id)
        assert task["name"] == name
        response = self.complete(username, task["id"], data)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["rma"]

    def rma(self, username: str, rma_id: int) -> dict:
        response = self.get(username, f"/api/rmas/{rma_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)
