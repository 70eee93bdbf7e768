"""Real servers for the integration and browser tests: the test kit's launcher, run with the
deployment's hypercorn.toml and this run's database and Redis (tests.support.services)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from quart_app.core.database import make_engine
from quart_app.testing.plugin import TEST_SECRET_KEY
from quart_app.testing.server import (
    APP_SETTINGS,
    LiveServer,
    free_port,
    run_server,
    server_environment,
)
from tests.support.services import server_backing_services

__all__ = [
    "APP_SETTINGS",
    "HYPERCORN_TOML",
    "PROJECT_ROOT",
    "TEST_SECRET_KEY",
    "LiveServer",
    "database_rows",
    "free_port",
    "running_server",
    "server_environment",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HYPERCORN_TOML = PROJECT_ROOT / "hypercorn.toml"


@contextmanager
def running_server(
    instance_path: Path,
    *,
    secret_key: str | None,
    extra_env: Mapping[str, str] | None = None,
    config: Path = HYPERCORN_TOML,
) -> Iterator[LiveServer]:
    """Run hypercorn (hypercorn.toml, two workers, access log on) on a free loopback port until
    the block ends. Its database is the instance folder's SQLite file, or under
    TEST_DATABASE_URL a PostgreSQL database of its own (and TEST_REDIS_URL's Redis), unless
    ``extra_env`` names them. ``config``: another hypercorn configuration file."""
    overrides = dict(extra_env or {})
    with server_backing_services(overrides) as services:
        env = server_environment(instance_path, secret_key=secret_key, extra=services | overrides)
        log_path = instance_path.parent / f"{instance_path.name}-server.log"
        with run_server(
            env=env, log_path=log_path, cwd=PROJECT_ROOT, config=config, access_log=True
        ) as server:
            yield server


async def database_rows(
    server: LiveServer, query: str, **params: object
) -> list[tuple[object, ...]]:
    """What the server's own database holds (SQLite or PostgreSQL), read beside the server."""
    engine = make_engine(server.database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(query), params)]
    finally:
        await engine.dispose()
