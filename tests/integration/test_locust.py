"""The Locust users in bench/locustfile.py against a real server, for a few seconds.

Locust runs in a subprocess of its own: gevent's monkey-patching must never reach this test
process. Its users are seeded with ``quart --app quart_app seed-users``, as the README says.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quart_app.testing.server import LiveServer
from tests.support.servers import PROJECT_ROOT, database_rows

BIN = Path(sys.executable).parent
LOCUSTFILE = PROJECT_ROOT / "bench" / "locustfile.py"
PASSWORD = "locust correct horse battery"
USERS = 20
LOCUST_USERS = 6
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """USERS users on the live server's database, sharing PASSWORD; its password file."""
    password_file = tmp_path_factory.mktemp("locust") / "password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    command = [str(BIN / "quart"), "--app", "quart_app", "seed-users", "--count", str(USERS)]
    command += ["--prefix", "locust-", "--password-file", str(password_file)]
    done = subprocess.run(
        command, env=dict(live_server.env), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"Created {USERS} users" in done.stdout
    return password_file


def run_locust(live_server: LiveServer, password_file: Path, *classes: str) -> tuple[int, Any, str]:
    """Locust headless for 4 s with LOCUST_USERS users of ``classes``; its exit code, JSON
    stats and everything it printed."""
    users = str(LOCUST_USERS)
    command = [str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "-u", users, "-r", users]
    command += ["-t", "4s", "--stop-timeout", "5", "--host", live_server.base_url]
    command += ["--user-prefix", "locust-", "--user-count", str(USERS)]
    command += ["--password-file", str(password_file), "--json", "--skip-log", *classes]
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,  # the exit code is what the tests look at
    )
    return done.returncode, json.loads(done.stdout), done.stdout + done.stderr


def by_name(stats: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in stats}


def test_browser_and_storm_users_run_without_a_failure(
    live_server: LiveServer, seeded: Path
) -> None:
    code, stats, _ = run_locust(live_server, seeded, "BrowserUser", "LoginStormUser")
    requests = by_name(stats)
    assert code == 0, [entry for entry in stats if entry["num_failures"]]
    for name in ("GET /login", "POST /login", "GET /dashboard"):
        assert requests[name]["num_requests"] > 0, name
    assert sum(entry["num_failures"] for entry in stats) == 0


async def test_api_users_each_sign_in_once_read_and_revoke_their_token(
    live_server: LiveServer, seeded: Path
) -> None:
    # In a thread: the subprocess's seconds must not stall this test's event loop.
    code, stats, printed = await asyncio.to_thread(run_locust, live_server, seeded, "ApiUser")
    requests = by_name(stats)
    assert code == 0, [entry for entry in stats if entry["num_failures"]]
    assert sum(entry["num_failures"] for entry in stats) == 0
    assert requests["POST /api/v1/tokens"]["num_requests"] == LOCUST_USERS  # one token each
    assert (
        requests["GET /api/v1/me"]["num_requests"]
        > requests["GET /api/v1/sessions"]["num_requests"]
        > 0
    )
    assert requests["DELETE /api/v1/tokens/current"]["num_requests"] == LOCUST_USERS
    # Only ApiUser makes tokens on this server: every one it made, it revoked when it stopped.
    tokens = "SELECT count(*) FROM sessions WHERE kind = 'api'"
    assert await database_rows(live_server, tokens) == [(0,)]
    events = "SELECT kind, count(*) FROM auth_events WHERE kind LIKE 'token_%' GROUP BY kind"
    assert sorted(await database_rows(live_server, events)) == [
        ("token_created", LOCUST_USERS),
        ("token_revoked", LOCUST_USERS),
    ]
    assert PASSWORD not in printed and "Bearer" not in printed


def test_a_wrong_password_shows_up_as_failed_logins(
    live_server: LiveServer, seeded: Path, tmp_path: Path
) -> None:
    """The check can fail: with the wrong password every POST /login is a reported failure."""
    wrong = tmp_path / "wrong"
    wrong.write_text("not the seeded password\n", encoding="utf-8")
    code, stats, _ = run_locust(live_server, wrong, "LoginStormUser")
    posts = by_name(stats)["POST /login"]
    assert code == 1
    assert posts["num_requests"] > 0
    assert posts["num_failures"] == posts["num_requests"]
