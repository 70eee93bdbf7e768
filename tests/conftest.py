"""The project's own settings for the test kit's fixtures (quart_app.testing.plugin).

``app``, ``client``, ``make_user``, ``signed_in_client``, ``csrf_token`` and ``live_server`` come
from the kit, as they do for anyone building on this app; this file only points them at the
database and Redis of .ci/run's second pass, marks tests by folder, and adds ``auth``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.auth import AuthActions
from tests.support.servers import HYPERCORN_TOML
from tests.support.services import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    flush_redis,
    fresh_server_database,
    server_backing_services,
)

pytest_plugins = ["pytester"]  # tests/testing runs the README's example suite

# Markers by location: a new file in these folders is marked without anyone remembering to.
MARKERS_BY_PATH = {"integration": "integration", "browser": "browser", "test_bench.py": "bench"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_folder = Path(__file__).parent
    for item in items:
        relative = item.path.relative_to(tests_folder).parts
        for part, marker in MARKERS_BY_PATH.items():
            if relative and relative[0] == part:
                item.add_marker(marker)


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        await fresh_server_database(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def throttle_redis_url() -> str | None:
    """On PostgreSQL (.ci/run's second pass) the app keeps its throttle counters in Redis, as a
    scaled-out deployment does; on SQLite it keeps them in the database."""
    if not (TEST_DATABASE_URL and TEST_REDIS_URL):
        return None
    await flush_redis(TEST_REDIS_URL)
    return TEST_REDIS_URL


@pytest.fixture
def app_config(
    app_config: dict[str, Any], database_url: str, throttle_redis_url: str | None
) -> dict[str, Any]:
    """The kit's settings, on this run's database and throttle store."""
    return {**app_config, "DATABASE_URL": database_url, "REDIS_URL": throttle_redis_url}


@pytest.fixture
def auth(client: Client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture(scope="module")
def live_server_env(live_server_env: Mapping[str, str]) -> Iterator[Mapping[str, str]]:
    """Under TEST_DATABASE_URL the kit's server gets a PostgreSQL database of its own (and
    Redis under a key prefix of its own); on SQLite, its instance folder's app.db."""
    with server_backing_services(dict(live_server_env)) as services:
        yield {**services, **live_server_env}


@pytest.fixture(scope="module")
def live_server_config() -> Path:
    """The kit's servers run with the deployment's hypercorn.toml, as the README runs them."""
    return HYPERCORN_TOML
