"""Command-line options: the full run's defaults, smaller ones for --quick, and --help text."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_JSON = RESULTS_DIR / "latest.json"
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

# Full run: the numbers the targets are meant for. Quick run: the same scenarios, in under 60 s.
FULL = {
    "users": 200,
    "concurrency": 64,
    "duration": 15.0,
    "dashboard_clients": 32,
    "isolation_clients": 4,
    "verify_runs": 20,
}
QUICK = {
    "users": 20,
    "concurrency": 16,
    "duration": 3.0,
    "dashboard_clients": 8,
    "isolation_clients": 2,
    "verify_runs": 5,
}
OVERLOAD_FACTOR = 10  # overload concurrency defaults to 10x the storm's

DESCRIPTION = """\
Load benchmark for quart-app. Starts the app under hypercorn exactly as the README runs it
(hypercorn.toml, its 2 workers, COOKIE_SECURE=false; only --bind is changed, to a free
127.0.0.1 port) on a fresh SQLite database in a temporary folder, seeds users through the
database layer, then measures, all against 127.0.0.1 and each bounded in time and requests:

  hash limit   single-thread argon2 verify time at the app's parameters; ideal logins/s
               = usable cores / verify time
  ceiling      requests/s of a bare Quart "hello" app (bench/hello_app.py), same hypercorn
               settings and client set-up as the dashboard scenario
  login storm  C clients doing full logins (GET /login for the CSRF token, POST credentials),
               cookies cleared between logins, keep-alive kept: logins/s, latency, errors
  dashboard    K signed-in clients on GET /dashboard: requests/s, latency (a 302 is an error)
  isolation    /dashboard latency from a few signed-in clients during a login storm
  overload     10x the storm's clients logging in at once: successes, shed answers
               (503/429 with Retry-After), timeouts, other 5xx; latency of shed answers
  limiter      on two more servers (fresh SQLite each, same users) with the login throttles
               on: the login storm again with the per-IP login rate raised out of reach
               (server CPU per login, on vs off: what the limiter's counters cost), then the
               app's default throttles and 8 clients' burst of POST /login from one IP
               (303s before the limit, 429s with Retry-After, their latency and server CPU)
  memory       RSS of hypercorn's master and workers: idle, and peak during storm/overload

Prints a live status line on stderr, one table on stdout (with PASS/MISS against the
targets) and writes JSON (default bench/results/latest.json).

The app servers get the environment of this command minus every app setting (so the app's
defaults are what is measured), plus COOKIE_SECURE=false, INSTANCE_PATH, DATABASE_URL (when
given), the login throttles set to 0 (unless --keep-throttles) and each --env KEY=VALUE.
The limiter scenario's servers always keep the throttles and ignore --env's THROTTLE_*,
DATABASE_URL and INSTANCE_PATH; with --env REDIS_URL their counters go to Redis, each server
under a key prefix of its own, so each starts with none."""


@dataclass(frozen=True)
class Options:
    """One run's settings, after --quick and the explicit flags are combined."""

    quick: bool
    users: int
    concurrency: int
    duration: float
    dashboard_clients: int
    isolation_clients: int
    overload_concurrency: int
    verify_runs: int
    timeout: float
    max_requests: int
    json_path: Path
    database_url: str | None
    env: dict[str, str]
    keep_throttles: bool


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not ENV_NAME.fullmatch(key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with an upper-case KEY, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(
            prog, max_help_position=32, width=100
        ),
    )
    sizes = parser.add_argument_group("sizes (full default / --quick default)")
    parser.add_argument(
        "--quick", action="store_true", help="short durations and small counts: under 60 s in all"
    )

    def size(flag: str, kind: Callable[[str], object], key: str, text: str, unit: str = "") -> None:
        sizes.add_argument(
            flag,
            type=kind,
            default=None,
            metavar="S" if unit else "N",
            help=f"{text} ({FULL[key]:g}{unit} / {QUICK[key]:g}{unit})",
        )

    size("--users", _positive_int, "users", "users seeded in the database")
    size("--concurrency", _positive_int, "concurrency", "login-storm clients (C)")
    size("--duration", _positive_float, "duration", "seconds each timed scenario runs (D)", " s")
    size("--dashboard-clients", _positive_int, "dashboard_clients", "signed-in clients (K)")
    size("--isolation-clients", _positive_int, "isolation_clients", "dashboard probes in storm")
    size("--verify-runs", _positive_int, "verify_runs", "argon2 verifies timed for the hash limit")
    sizes.add_argument(
        "--overload-concurrency",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"clients logging in at once in the overload scenario ({OVERLOAD_FACTOR} x C)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="client timeout per request, seconds; slower answers count as timeouts (10)",
    )
    parser.add_argument(
        "--max-requests",
        type=_positive_int,
        default=500_000,
        metavar="N",
        help="most requests one scenario may send, whatever its duration (500000)",
    )
    parser.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="where to write the results as JSON (bench/results/latest.json)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="SQLAlchemy async URL of another database to use (default: fresh SQLite in a "
        "temporary folder); seeded users are deleted from it afterwards",
    )
    parser.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the app servers, repeatable "
        "(e.g. --env HASH_QUEUE_LIMIT=8 --env HASH_POOL_SIZE=1)",
    )
    parser.add_argument(
        "--keep-throttles",
        action="store_true",
        help="leave the app's login throttles on (by default they are set to 0, off: every "
        "virtual client shares 127.0.0.1, so a per-IP limit would be all that is measured); "
        "the limiter scenario has them on either way",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> Options:
    args = build_parser().parse_args(argv)
    base = QUICK if args.quick else FULL

    def chosen(key: str) -> float:
        """The flag's value if given, else the full or quick default."""
        value = getattr(args, key)
        return float(base[key] if value is None else value)

    concurrency = int(chosen("concurrency"))
    return Options(
        quick=args.quick,
        users=int(chosen("users")),
        concurrency=concurrency,
        duration=chosen("duration"),
        dashboard_clients=int(chosen("dashboard_clients")),
        isolation_clients=int(chosen("isolation_clients")),
        overload_concurrency=args.overload_concurrency or OVERLOAD_FACTOR * concurrency,
        verify_runs=int(chosen("verify_runs")),
        timeout=args.timeout,
        max_requests=args.max_requests,
        json_path=args.json_path,
        database_url=args.database_url,
        env=dict(args.env),
        keep_throttles=args.keep_throttles,
    )
