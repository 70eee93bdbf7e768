"""/metrics on a real two-worker server: the counts are the sums over both workers, a new
server starts from zero, a stopped worker's live gauges go; and LOG_FORMAT=json writes every
line of the app and of hypercorn as one JSON object, with the request's id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from quart_app.testing.metrics import MetricsReading, parse_metrics
from tests.support.http import login, register, unique_password, unique_username
from tests.support.servers import TEST_SECRET_KEY, LiveServer, running_server
from tests.support.workers import client_per_worker, worker_of_response

pytestmark = pytest.mark.integration
# hypercorn's access log (text, turned on for the tests), e.g. [date] [pid] [INFO] <pid <…>> …
ACCESS_LINE = re.compile(r'^\[[^]]+\] \[\d+\] \[INFO\] <pid <(\d+)>> "(\S+) (\S+) 1\.1" (\d+)')


async def scrape(server: LiveServer) -> MetricsReading:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return parse_metrics(response.text)


def server_in(directory: Path, instance: Path) -> LiveServer:
    return running_server(  # type: ignore[return-value]
        instance,
        secret_key=TEST_SECRET_KEY,
        extra_env={
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            "LOG_FORMAT": "json",
            # Failed-login limits off: this test counts failures, not their throttling.
            "THROTTLE_PAIR_LIMIT": "0",
            "THROTTLE_USER_LIMIT": "0",
        },
    )


async def test_counts_are_summed_over_both_workers_and_logs_are_json(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    with server_in(directory, tmp_path / "instance") as server:
        username, password = unique_username("metered"), unique_password()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            assert (await register(client, username, password)).status_code == 303
        before = await scrape(server)
        failed_ids = []
        # On each worker's own connection: three failures, then the right password.
        async with client_per_worker(server) as clients:
            for pid, client in clients.items():
                for _ in range(3):
                    failed = await login(client, username, "wrong password here")
                    assert failed.status_code == 401
                    assert await worker_of_response(server, failed) == pid
                    failed_ids.append(failed.headers["X-Request-ID"])
                signed_in = await login(client, username, password)
                assert signed_in.status_code == 303
                assert await worker_of_response(server, signed_in) == pid
        workers = len(clients)
        after = await scrape(server)
        log = server.log_text()
    assert after.delta(before, "auth_logins_total", outcome="failed") == 3 * workers
    assert after.delta(before, "auth_logins_total", outcome="success") == workers
    assert (
        after.delta(before, "auth_password_hash_seconds_count", operation="verify") == 4 * workers
    )
    posts = after.delta(
        before, "http_request_duration_seconds_count", route="/login", method="POST", status="401"
    )
    assert posts == 3 * workers
    assert after.value("auth_hash_queue_depth") == 0

    # Every line but the access log's (hypercorn's, text, turned on for the tests) is JSON.
    records = [
        json.loads(line) for line in log.splitlines() if line and not ACCESS_LINE.match(line)
    ]
    assert any(r["logger"] == "hypercorn.error" and "Running on" in r["message"] for r in records)
    failures = [r for r in records if r.get("event") == "authn_login_fail"]
    assert {r["request_id"] for r in failures} == set(failed_ids)
    for record in failures:
        assert record["level"] == "WARNING" and record["user_id"] and record["source_ip"]
        assert record["time"].endswith("+00:00")
    assert password not in log and "wrong password here" not in log

    # A stopped worker's live gauges are gone; its counters stay until the next start.
    files = {path.name for path in directory.iterdir()}
    assert not any(name.startswith("gauge_livesum_") for name in files), files
    assert any(name.startswith("counter_") for name in files)

    with server_in(directory, tmp_path / "instance-2") as second:
        fresh = await scrape(second)
    assert fresh.value("auth_logins_total", outcome="failed") == 0
    assert fresh.value("auth_logins_total", outcome="success") == 0


async def test_only_loopback_reads_it_and_the_answer_says_nothing_to_others(
    tmp_path: Path,
) -> None:
    with server_in(tmp_path / "metrics", tmp_path / "instance") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
            direct = await client.get("/metrics")
    assert forwarded.status_code == 404 and "auth_" not in forwarded.text
    assert direct.status_code == 200
