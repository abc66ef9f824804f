"""A database that cannot be reached answers 503 with Retry-After (JSON for the API and the health check, an error
page for pages), never a plain-text 500, on SQLite and PostgreSQL (issue 14, item 4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, make_users, token_for
from trialdesk.entrypoints.web.app import create_app


@pytest.fixture
def down(td, monkeypatch):
    """The app is up, then the database goes away: every new connection is refused by the driver."""
    make_users(td)
    token = token_for(td, "admin1")
    client = TestClient(create_app(td_app=td), raise_server_exceptions=False)
    assert client.get("/health").status_code == 200
    dialect = td.engine.dialect

    def refuse(*args, **kwargs):
        raise dialect.loaded_dbapi.OperationalError("connection refused (the test took the database away)")

    monkeypatch.setattr(dialect, "connect", refuse)
    td.engine.dispose()  # pooled connections are gone: the next request must connect
    return client, {"Authorization": f"Bearer {token}"}


def test_api_and_health_answer_503_json_with_retry_after(down):
    client, bearer = down
    for response in (client.get("/health"), client.get(f"/api/v1/trials/{NCT}/sites", headers=bearer)):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert int(response.headers["retry-after"]) > 0
        body = response.json()
        assert "database is unavailable" in body["detail"] and body["error"] == "ServiceUnavailable"
        assert "test took" not in response.text  # the driver's message is not shown


def test_pages_answer_a_503_error_page(down):
    client, _ = down
    for response in (client.get(f"/trials/{NCT}"), client.get("/ops", cookies={"td_session": "x"})):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "database is unavailable" in response.text and "retry-after" in response.headers
