"""/healthz, and what users see while the database is unreachable: 503s, never 500s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quart_app import create_app
from tests.conftest import PASSWORD, AuthActions, Client, sqlite_only


async def test_healthz_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


@sqlite_only
async def test_database_outage_gives_503_not_500(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    app = create_app(app_config)
    async with app.test_app():
        client = app.test_client()
        auth = AuthActions(client)
        assert (await auth.register("alice")).status_code == 303
        token = await auth.csrf("/login")

        # Take the database away: close pooled connections, and put a folder where the file was.
        await app.extensions["database"].engine.dispose()
        for path in tmp_path.glob("test.db*"):
            path.unlink()
        (tmp_path / "test.db").mkdir()

        response = await client.get("/healthz")
        assert response.status_code == 503
        assert await response.get_json() == {"status": "unavailable"}

        form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
        response = await client.post("/login", form=form)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "503" in await response.get_data(as_text=True)

        response = await client.get("/dashboard")
        assert response.status_code == 503
