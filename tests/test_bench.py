"""The load benchmark works end to end: ``python -m bench --quick`` with tiny numbers.

It checks that the benchmark runs, prints its table and writes complete, sane JSON. It asserts
nothing about speed: the targets' PASS/MISS depend on the machine, not on correctness.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from bench.appenv import limiter_environment
from bench.options import parse_args
from bench.seed import seed_database_uri
from bench.seed_app.models import User as SeedUser
from tests.support.services import (
    IN_CI,
    ON_SERVER_DATABASE,
    TEST_DATABASE_URL,
    private_database,
)

# wrk (Debian's package) drives the throughput scenarios; like Chromium for the browser tests,
# a machine without it skips this smoke run with the reason, except under CI=true (.ci/run
# installs it), where its absence fails.
if shutil.which("wrk") is None and not IN_CI:
    pytest.skip("needs wrk (apt-get install wrk)", allow_module_level=True)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 150  # the run itself takes about 20 s; the margin is for a busy machine
SCENARIOS = (
    "hash_limit",
    "ceiling",
    "burst_floor",
    "seed",
    "login_storm",
    "dashboard",
    "isolation",
    "overload",
    "limiter",
    "argon2_free_storm",
    "memory",
)
LOAD_KEYS = (
    "requests",
    "ok",
    "ok_per_s",
    "errors",
    "timeouts",
    "shed",
    "shed_without_retry_after",
    "server_errors_not_shed",
    "latency_ms",
    "shed_latency_ms",
    "statuses",
    "resources",
)
TARGET_KEYS = {
    "logins_per_s",
    "dashboard_cpu_per_request",
    "dashboard_vs_seed",
    "isolation_p99",
    "overload_timeouts",
    "overload_other_5xx",
    "shed_without_retry_after",
    "shed_p99_ms",
    "peak_rss_mib",
}


@pytest.fixture(scope="module")
def bench_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    json_path = tmp_path_factory.mktemp("bench") / "results.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--users", "5",
        "--concurrency", "4",
        "--duration", "1",
        "--dashboard-clients", "2",
        "--isolation-clients", "1",
        "--overload-concurrency", "20",
        "--verify-runs", "3",
        "--json", str(json_path),
    ]  # fmt: skip
    with ExitStack() as stack:
        database_url = None
        if ON_SERVER_DATABASE:  # the benchmark's --database-url flag: a PostgreSQL deployment
            database_url = stack.enter_context(private_database(TEST_DATABASE_URL))
            command += ["--database-url", database_url]
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, f"bench failed:\n{result.stdout}\n{result.stderr}"
        if database_url is not None:  # the seed shared it, and took its table away again
            assert not _has_table(database_url, SeedUser.__tablename__)
    return result, json.loads(json_path.read_text(encoding="utf-8"))


def _has_table(database_url: str, name: str) -> bool:
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table(name)
    finally:
        engine.dispose()


def test_prints_one_table_and_progress(
    bench_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, _ = bench_run
    for heading in ("argon2id t=", "HASH_POOL_SIZE=", "HASH_QUEUE_LIMIT=", "scenario", "targets:"):
        assert heading in result.stdout
    for scenario in (
        "hash limit",
        "ceiling",
        "seed",
        "login storm",
        "dashboard",
        "isolation",
        "overload",
        "limiter",
    ):
        assert f"\n{scenario} " in result.stdout
    assert result.stdout.count("targets:") == 1
    assert "server CPU ms/request" in result.stdout  # beside req/s, for every wrk scenario
    for measure in (  # the shed p99's context, under overload
        "shed answer p99 after the first second",
        "shed answers > 50 ms: in the first second / all",
        "the burst floor: bare hello app, 20 connections POSTing at once: p50 / p99",
        "shed answer p99 vs the burst floor p99",
        "20 answers at the ceiling's",  # what the hello's own rate allows the burst
        "the rest of a login (argon2 at its minimal cost): server / client CPU",
        "most logins/s these allow: cores / (argon2 + server + client)",
    ):
        assert measure in result.stdout
    assert "burst floor: done" in result.stderr
    assert "login_storm: done" in result.stderr  # progress goes to stderr, not into the table
    assert "seed: done" in result.stderr
    assert "limiter: done" in result.stderr
    assert "argon2-free storm: done" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr  # every aiohttp session was closed


def test_json_has_every_scenario_with_sane_values(
    bench_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, results = bench_run
    scenarios = results["scenarios"]
    assert set(SCENARIOS) <= set(scenarios)
    for name in ("ceiling", "seed", "login_storm", "dashboard", "isolation", "overload"):
        for key in LOAD_KEYS:
            assert key in scenarios[name], f"{name} lacks {key}"

    for name in ("ceiling", "seed", "login_storm", "dashboard", "isolation", "overload"):
        cpu = scenarios[name]["resources"]
        for side in ("client", "server", "service", "other"):  # PostgreSQL/Redis apart
            assert cpu[f"{side}_cpu_cores"] >= 0, (name, side)
    for name in ("ceiling", "dashboard", "seed"):  # driven by wrk, a child of the bench
        wrk = scenarios[name]
        assert wrk["client"] == "wrk", name
        assert wrk["ok_per_s"] > 0, name
        assert wrk["errors"] == 0, (name, wrk["statuses"])  # no 302: sessions survived
        assert wrk["statuses"] == {"200": wrk["ok"]}, name
        assert wrk["server_cpu_ms_per_request"] > 0, name
        assert wrk["resources"]["client_cpu_cores"] > 0, name  # wrk's CPU is the client's
        assert wrk["resources"]["server_cpu_s"] > 0, name
        assert len(wrk["resources"]["worker_cpu_cores"]) == 2, name
    assert scenarios["dashboard"]["sessions"] == scenarios["seed"]["sessions"] > 0
    assert scenarios["seed"]["bytes_per_request"] > 0
    assert scenarios["hash_limit"]["verify_ms"] > 0
    assert scenarios["hash_limit"]["ideal_logins_per_s"] > 0
    assert scenarios["hash_limit"]["parallel_verifies_per_s"] > 0
    assert scenarios["hash_limit"]["parallel_share_of_ideal"] > 0
    assert scenarios["ceiling"]["ok_per_s"] > 0
    assert scenarios["login_storm"]["ok"] > 0
    assert scenarios["login_storm"]["statuses"].get("303", 0) > 0
    assert scenarios["dashboard"]["ok_per_s"] > 0
    assert scenarios["dashboard"]["errors"] == 0  # no 302: sessions survived
    assert scenarios["isolation"]["ok"] > 0
    assert scenarios["isolation"]["storm"]["ok"] > 0
    for name in ("login_storm", "dashboard", "isolation", "overload"):
        assert scenarios[name]["server_errors_not_shed"] == 0, name
    overload = scenarios["overload"]
    assert overload["ok"] + overload["shed"] > 0
    assert overload["shed_without_retry_after"] == 0
    by_time = overload["shed_by_time"]
    assert by_time["burst_s"] == 1.0 and by_time["slower_than_ms"] == 50.0
    assert 0 <= by_time["after_burst"] <= overload["shed"]
    assert 0 <= by_time["slower_in_burst"] <= by_time["slower"] <= overload["shed"]
    share = by_time["slower_share_in_burst"]
    assert share is None if by_time["slower"] == 0 else 0 <= share <= 1
    after_p99 = by_time["after_burst_latency_ms"]["p99"]
    assert after_p99 is None if by_time["after_burst"] == 0 else after_p99 >= 0

    # The burst floor: the overload's count of connections to the hello app, one POST each.
    floor = scenarios["burst_floor"]
    assert floor["connections"] == results["meta"]["options"]["overload_concurrency"] == 20
    assert floor["statuses"] == {"405": floor["connections"]}  # every POST answered, no route
    assert floor["errors"] == floor["timeouts"] == 0
    latency = floor["latency_ms"]
    assert 0 <= latency["p50"] <= latency["p99"] <= latency["max"]
    assert sum(floor["connections_per_worker"]) <= floor["connections"]
    assert overload["burst_floor_p99_ms"] == floor["latency_ms"]["p99"]
    ratio = overload["shed_p99_vs_burst_floor"]
    if overload["shed_latency_ms"]["p99"] is None:  # nothing shed
        assert ratio is None
    else:
        assert ratio >= 0

    # What bounds the login storm: argon2 at the parallel rate, plus a login's other work,
    # measured on a server hashing at argon2's minimal cost (its logins are that much faster).
    hash_limit, argon2_free = scenarios["hash_limit"], scenarios["argon2_free_storm"]
    assert argon2_free["ok"] > 0 and argon2_free["statuses"].get("303", 0) > 0
    assert argon2_free["server_errors_not_shed"] == argon2_free["errors"] == 0
    bound = scenarios["login_storm"]["bound"]
    cores = hash_limit["cores"]
    assert bound["argon2_ms"] == round(cores * 1000 / hash_limit["parallel_verifies_per_s"], 2)
    assert 0 < bound["rest_server_ms"] < bound["storm_server_ms"]
    assert bound["client_ms"] > 0
    most = cores * 1000 / (bound["argon2_ms"] + bound["rest_server_ms"] + bound["client_ms"])
    assert bound["most_logins_per_s"] == pytest.approx(most, abs=0.1)
    assert bound["most_share_of_ideal"] == pytest.approx(
        most / hash_limit["ideal_logins_per_s"], abs=0.001
    )
    at_ceiling = overload["burst_at_ceiling"]
    assert at_ceiling["connections"] == 20
    assert at_ceiling["ceiling_per_s"] == scenarios["ceiling"]["ok_per_s"]
    # the 20th answer (nearest-rank p99 of 20) at the ceiling's rate
    assert at_ceiling["p99_ms"] == pytest.approx(20 / at_ceiling["ceiling_per_s"] * 1000, abs=0.1)

    limiter = scenarios["limiter"]
    storm = limiter["storm"]
    for key in LOAD_KEYS:
        assert key in storm, f"limiter storm lacks {key}"
    assert storm["throttles"]["THROTTLE_LOGIN_PER_MINUTE"] == 1_000_000
    assert storm["throttles"]["THROTTLE_PAIR_LIMIT"] > 0  # the app's defaults: limiter on
    assert storm["ok"] > 0
    assert storm["statuses"].get("303", 0) > 0
    assert storm["statuses"].get("429", 0) == 0  # the raised limit refused nobody
    assert storm["server_errors_not_shed"] == 0
    cpu = limiter["cpu_ms_per_login"]
    assert cpu["throttles_on"] > 0
    assert cpu["login_storm"] > 0
    assert cpu["login_storm_throttles_off"] is True
    assert cpu["limiter_cost"] == round(cpu["throttles_on"] - cpu["login_storm"], 2)

    throttled = limiter["throttled"]
    limit = throttled["limit_per_minute"]
    assert throttled["throttles"]["THROTTLE_LOGIN_PER_MINUTE"] == limit > 0  # app default
    assert 0 < throttled["served_before_limit"] <= limit
    assert throttled["count_429"] > 0
    assert throttled["count_429_without_retry_after"] == 0  # every 429 has Retry-After
    assert 1 <= throttled["retry_after_s"]["min"] <= throttled["retry_after_s"]["max"] <= 60
    assert throttled["latency_429_ms"]["p50"] is not None
    assert throttled["server_cpu_ms_per_429"] > 0
    burst = throttled["burst"]
    assert burst["statuses"].get("429", 0) > 0
    assert burst["server_errors_not_shed"] == 0
    assert burst["resources"]["server_cpu_s"] > 0

    memory = scenarios["memory"]
    assert len(memory["idle_worker_mib"]) == results["meta"]["workers"] == 2
    assert 0 < memory["idle_total_mib"] <= memory["peak_mib"]
    assert memory["limit_mib"] > memory["idle_total_mib"]

    meta = results["meta"]
    assert meta["argon2"]["memory_cost_kib"] > 0
    assert meta["hash_pool_size"] >= 1
    assert {target["key"] for target in results["targets"]} == TARGET_KEYS
    assert {target["verdict"] for target in results["targets"]} <= {"PASS", "MISS", "N/A"}


def test_measures_the_database_it_was_pointed_at(
    bench_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, results = bench_run
    database = results["meta"]["database"]
    if ON_SERVER_DATABASE:  # --database-url: the benchmark's own PostgreSQL database
        assert database.startswith("postgresql+asyncpg://") and "_server_" in database
    else:
        assert database == "fresh SQLite in a temporary folder"
    assert f"database: {database}" in result.stdout
    # The sync seed it is compared with reads the same kind of database.
    seed = results["scenarios"]["seed"]["database"]
    assert seed.endswith("PostgreSQL (psycopg)") if ON_SERVER_DATABASE else seed == "SQLite"
    rows = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    assert ["database", seed] in rows  # the seed's own row


def test_the_seed_reads_the_database_the_app_reads(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://bench:secret@db.example:5433/shop"
    uri, name = seed_database_uri(parse_args(["--database-url", url]), tmp_path)
    assert make_url(uri).drivername == "postgresql+psycopg"  # a sync driver for a sync app
    assert (
        make_url(uri)
        .render_as_string(hide_password=False)
        .endswith("bench:secret@db.example:5433/shop")
    )
    assert name.endswith("PostgreSQL (psycopg)")
    for args in ([], ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"]):
        uri, name = seed_database_uri(parse_args(args), tmp_path)
        assert (uri, name) == (f"sqlite:///{tmp_path / 'seed.sqlite3'}", "SQLite")


def test_limiter_servers_start_with_no_counters_in_a_shared_redis(tmp_path: Path) -> None:
    extra = {
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/bench",
        "THROTTLE_LOGIN_PER_MINUTE": "0",
        "HASH_POOL_SIZE": "1",
    }
    first, second = (limiter_environment(tmp_path, extra, {}) for _ in range(2))
    assert first["REDIS_URL"] == extra["REDIS_URL"] and first["HASH_POOL_SIZE"] == "1"
    assert "DATABASE_URL" not in first and "THROTTLE_LOGIN_PER_MINUTE" not in first
    # Each server its own key prefix: the storm server's hits on 127.0.0.1 are not the
    # burst server's.
    assert first["REDIS_KEY_PREFIX"].startswith("quart_app:bench-")
    assert first["REDIS_KEY_PREFIX"] != second["REDIS_KEY_PREFIX"]
    assert "REDIS_KEY_PREFIX" not in limiter_environment(tmp_path, {"HASH_POOL_SIZE": "1"}, {})
