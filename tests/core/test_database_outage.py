"""PostgreSQL going away mid-run and coming back: clean 503s, then recovery by itself.

Runs a private PostgreSQL cluster of its own (initdb on a free port, as the postgres user), so
stopping it disturbs nothing else. Needs the PostgreSQL server binaries and root; skipped with
the reason otherwise, except under CI=true, where it must run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from quart_app import create_app
from tests.support.auth import PASSWORD, AuthActions
from tests.support.servers import free_port
from tests.support.services import IN_CI

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
REASON = "needs PostgreSQL's server binaries and root (to run them as the postgres user)"
if (not BINARIES or os.geteuid() != 0) and not IN_CI:
    pytest.skip(REASON, allow_module_level=True)


class PrivatePostgres:
    """A throwaway cluster: trust auth on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path) -> None:
        if not BINARIES or os.geteuid() != 0:
            pytest.fail(f"CI=true: {REASON}")
        self.bin = Path(BINARIES[-1])
        self.data = folder / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        folder.chmod(0o755)
        shutil.chown(folder, "postgres", "postgres")
        self.data.mkdir()
        shutil.chown(self.data, "postgres", "postgres")
        self._as_postgres(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"
        )

    def _as_postgres(self, program: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        # -l: the server's output goes to a file, not to our pipes (which would never close).
        log = str(self.data.parent / "server.log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not pytest's tmp_path: its folders are private to root, and the cluster runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="quart-app-pg-"))
    server = PrivatePostgres(folder)
    server.start()
    yield server
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(server.bin / "pg_ctl"), "-D", str(server.data),
         "-m", "immediate", "stop"],
        capture_output=True,
        check=False,
        timeout=60,
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def signed_in(
    app_config: dict[str, Any], postgres: PrivatePostgres, username: str
) -> AsyncIterator[AuthActions]:
    """The app on the private cluster, with ``username`` registered and signed in."""
    app = create_app({**app_config, "DATABASE_URL": postgres.url})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        assert (await auth.register(username)).status_code == 303
        assert (await auth.client.get("/dashboard")).status_code == 200
        yield auth


async def test_database_stopping_and_returning_mid_run(
    app_config: dict[str, Any], private_postgres: PrivatePostgres
) -> None:
    async with signed_in(app_config, private_postgres, "heidi") as auth:
        private_postgres.stop()  # the database goes away mid-run
        assert (await auth.client.get("/healthz")).status_code == 503
        response = await auth.client.get("/dashboard")
        assert response.status_code == 503  # a clean refusal, not a 500 or a hang
        assert response.headers["Retry-After"] == "5"

        private_postgres.start()  # ...and comes back: no restart of the app needed
        assert (await auth.client.get("/healthz")).status_code == 200
        assert (await auth.client.get("/dashboard")).status_code == 200  # the session survived
        await auth.logout()
        assert (await auth.login("heidi", PASSWORD)).status_code == 303


async def test_a_restart_between_requests_goes_unnoticed(
    app_config: dict[str, Any], private_postgres: PrivatePostgres
) -> None:
    async with signed_in(app_config, private_postgres, "ivan") as auth:
        # Every pooled connection now points at a server process that is gone.
        private_postgres.stop()
        private_postgres.start()

        # The pool's pre-ping finds each dead connection and replaces it before it is used.
        assert (await auth.client.get("/dashboard")).status_code == 200
        await auth.logout()
        assert (await auth.login("ivan", PASSWORD)).status_code == 303
