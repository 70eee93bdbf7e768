"""Fixtures: real hypercorn servers for the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live_server import TEST_SECRET_KEY, LiveServer, running_server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server configured with an explicit SECRET_KEY."""
    instance_path = tmp_path_factory.mktemp("instance")
    with running_server(instance_path, secret_key=TEST_SECRET_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def live_server_generated_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without SECRET_KEY: the workers generate and share one in the instance folder."""
    instance_path = tmp_path_factory.mktemp("instance-generated-key")
    with running_server(instance_path, secret_key=None) as server:
        yield server


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    return live_server.base_url
