"""wrk, a compiled load generator, for the throughput scenarios (ceiling, dashboard, seed): one
wrk thread keeps K keep-alive connections busy for D seconds using a small fraction of a core,
so the server, not the client, is what saturates. bench/wrk_report.lua rotates the Cookie header
over signed-in sessions, counts the answers by status and prints one JSON line, parsed here."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from bench import server
from bench.load import BenchError
from bench.options import Options
from quart_app.testing.server import LiveServer

SCRIPT = Path(__file__).resolve().with_name("wrk_report.lua")
# One thread: at this machine's rates it uses about 0.1 core (measured: a second thread only
# adds its own overhead), leaving the rest to the server.
THREADS = 1
# Every Nth request says "Connection: close" and wrk reconnects: hypercorn's workers share one
# listening socket and the first to wake accepts a whole burst, so K connections opened at once
# often all land on one worker. A reconnect is accepted by whichever worker is waiting, the less
# busy one, so the spread evens out as it would behind a proxy recycling its connections. The
# cost, one TCP connection per N requests, is well under 2 % of even the hello app's request.
CLOSE_EVERY = 100
MARKER = "WRK_JSON "
USER_AGENT = aiohttp.http.SERVER_SOFTWARE  # the sessions sign in with aiohttp's User-Agent
SAMPLE_AT = 0.5  # of the duration: when the connections per worker are counted


def executable() -> str:
    """The wrk program on PATH, or a BenchError that says how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(
            "wrk not found: it drives the ceiling, dashboard and seed scenarios; "
            "install it with `apt-get install wrk` (Debian's package; .ci/run does this)"
        )
    return found


def command(url: str, cookies_file: Path, connections: int, options: Options) -> list[str]:
    """wrk's command line: K connections for D seconds, the client timeout, the script."""
    seconds = max(1, math.ceil(options.duration))  # wrk takes whole seconds
    per_thread = -(-options.max_requests // THREADS)
    return [
        executable(),
        f"--threads={THREADS}",
        f"--connections={max(connections, THREADS)}",
        f"--duration={seconds}s",
        f"--timeout={max(1, math.ceil(options.timeout))}s",
        f"--script={SCRIPT}",
        url,
        "--",
        str(cookies_file),
        USER_AGENT,
        str(per_thread),
        str(CLOSE_EVERY),
    ]


def summary(report: dict[str, Any], wall: float) -> dict[str, Any]:
    """wrk's report in the shape of ``Recorder.summary()``: every answer but 200 is an error
    (on /dashboard a 302 means the session was lost), socket errors too; timeouts apart."""
    window = max(report["duration_us"] / 1e6, 1e-9)
    statuses = {label: int(count) for label, count in report["statuses"].items()}
    ok = statuses.get("200", 0)
    sockets = report["errors"]
    socket_errors = sockets["connect"] + sockets["read"] + sockets["write"]
    latency = {key: round(value / 1000, 2) for key, value in report["latency_us"].items()}
    answered = sum(statuses.values())
    code = [int(label.split()[0]) for label in statuses]
    return {
        "client": "wrk",
        "window_s": round(window, 3),
        "elapsed_s": round(wall, 3),
        "requests": report["requests"],
        "ok": ok,
        "ok_per_s": round(ok / window, 2),
        "requests_per_s": round(report["requests"] / window, 2),
        # Headers and body: the seed's page should weigh about what the app's does.
        "bytes_per_request": round(report["bytes"] / max(report["requests"], 1)),
        "errors": answered - ok + socket_errors,
        "timeouts": sockets["timeout"],
        "shed": 0,  # wrk does not wait out a Retry-After: a 429/503 counts as an error
        "shed_without_retry_after": sum(
            count for label, count in statuses.items() if label.endswith("no Retry-After")
        ),
        "server_errors_not_shed": sum(
            count for status, count in zip(code, statuses.values(), strict=True) if status >= 500
        ),
        "latency_ms": {key: latency[key] for key in ("p50", "p95", "p99", "max", "mean")},
        "shed_latency_ms": {"p50": None, "p99": None},
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": {**sockets, "total": socket_errors},
        "reconnects_asked": report["closes"],
    }


async def _run(
    argv: Sequence[str], target: LiveServer, delay: float
) -> tuple[dict[str, Any], float, list[int]]:
    """Run wrk; count the connections per worker ``delay`` s in; its report and wall time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        communicate = asyncio.ensure_future(process.communicate())
        done, _ = await asyncio.wait({communicate}, timeout=delay)
        spread = [] if done else [len(p) for p in server.connections_per_worker(target).values()]
        out, err = await communicate
    finally:
        if process.returncode is None:  # interrupted: no wrk may outlive the bench
            with suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    wall = loop.time() - started
    text = out.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.startswith(MARKER)]
    if process.returncode != 0 or not lines:
        problem = err.decode("utf-8", errors="replace").strip() or text.strip()
        raise BenchError(f"wrk failed (exit code {process.returncode}): {problem}")
    return json.loads(lines[-1].removeprefix(MARKER)), wall, spread


async def drive(
    target: LiveServer, path: str, connections: int, options: Options, cookies: Sequence[str] = ()
) -> dict[str, Any]:
    """wrk on ``target``'s ``path`` with K connections for D seconds, each request with the
    next of ``cookies`` (Cookie header values); what it saw and what the server used meanwhile,
    wrk's CPU counted as the client's."""
    with tempfile.TemporaryDirectory(prefix="quart-bench-wrk-") as folder:
        cookies_file = Path(folder) / "cookies"
        cookies_file.write_text("".join(f"{cookie}\n" for cookie in cookies), encoding="utf-8")
        argv = command(target.base_url + path, cookies_file, connections, options)
        delay = SAMPLE_AT * max(1, math.ceil(options.duration))
        with server.resource_watch(target) as usage:
            report, wall, spread = await _run(argv, target, delay)
    resources = {**usage, "connections_per_worker": spread}
    result = {"clients": connections, "sessions": len(cookies), **summary(report, wall)}
    # Per page served (a 200): lost sessions' cheap redirects must not make it look cheaper.
    result["server_cpu_ms_per_request"] = server.server_cpu_ms_per(resources, result["ok"])
    return {**result, "resources": resources}


def cookie_header(session: aiohttp.ClientSession, base_url: str) -> str:
    """The Cookie header a browser with ``session``'s cookie jar sends to ``base_url``."""
    cookies = session.cookie_jar.filter_cookies(URL(base_url))
    return "; ".join(f"{name}={morsel.coded_value}" for name, morsel in cookies.items())
