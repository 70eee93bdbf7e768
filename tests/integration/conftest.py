"""Fixtures: real hypercorn servers for the integration tests.

``live_server`` is the test kit's (quart_app.testing), with this project's hypercorn.toml and
database settings from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import LiveServer, running_server


@pytest.fixture(scope="module")
def live_server_generated_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without SECRET_KEY: the workers generate and share one in the instance folder."""
    instance_path = tmp_path_factory.mktemp("instance-generated-key")
    with running_server(instance_path, secret_key=None) as server:
        yield server


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    return live_server.base_url
