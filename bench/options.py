"""Command-line options: the full run's defaults, smaller ones for --quick, and --help."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)
# Full run: the numbers the targets are meant for. Quick run: the same scenarios, in under 60 s.
SIZES = {  # flag: (full default, --quick default, help)
    "users": (200, 20, "users seeded in the database"),
    "concurrency": (64, 16, "login-storm clients (C)"),
    "duration": (15.0, 3.0, "seconds each timed scenario runs (D)"),
    "dashboard_clients": (32, 8, "wrk connections and signed-in sessions (K)"),
    "isolation_clients": (4, 2, "dashboard probes in storm"),
    "verify_runs": (20, 5, "argon2 verifies timed for the hash limit"),
}
OVERLOAD_FACTOR = 10  # overload concurrency defaults to 10x the storm's
JSON = Path(__file__).resolve().parent / "results" / "latest.json"
HELP = {  # of the flags outside the sizes group
    "overload": f"clients logging in at once in the overload scenario ({OVERLOAD_FACTOR} x C)",
    "timeout": "client timeout per request, seconds; slower answers count as timeouts (10)",
    "max_requests": "most requests one scenario may send, whatever its duration (500000)",
    "json": "where to write the results as JSON (bench/results/latest.json)",
    "database_url": "SQLAlchemy async URL of another database to use (default: fresh SQLite in a "
    "temporary folder); seeded users are deleted from it afterwards",
    "env": "extra environment for the app servers, repeatable "
    "(e.g. --env HASH_QUEUE_LIMIT=8 --env HASH_POOL_SIZE=1)",
    "keep_throttles": "leave the app's login throttles on (by default they are set to 0: "
    "every virtual client shares 127.0.0.1); the limiter scenario has them on either way",
}
DESCRIPTION = """\
Load benchmark for quart-app (README.md, "Load benchmark", says what it measures and how). App
settings in this environment are ignored, so the app's defaults are measured: use --env. The
login throttles are 0 unless --keep-throttles; the limiter's servers keep them, ignoring
--env's THROTTLE_*, DATABASE_URL and INSTANCE_PATH."""


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


def _positive(kind: Callable[[str], N]) -> Callable[[str], N]:
    def parse(text: str) -> N:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
        return value

    return parse


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with an upper-case KEY, got {text!r}")
    return key, value


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(
            prog, max_help_position=32, width=100
        ),
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="short durations and small counts: under 60 s in all")
    sizes = parser.add_argument_group("sizes (full default / --quick default)")
    for key, (full, quick, text) in SIZES.items():
        unit = " s" if isinstance(full, float) else ""
        sizes.add_argument(
            "--" + key.replace("_", "-"),
            type=_positive(type(full)),
            metavar="S" if unit else "N",
            help=f"{text} ({full:g}{unit} / {quick:g}{unit})",
        )
    sizes.add_argument(
        "--overload-concurrency", type=_positive(int), metavar="N", help=HELP["overload"]
    )
    add("--timeout", type=_positive(float), default=10.0, metavar="S", help=HELP["timeout"])
    add(
        "--max-requests",
        type=_positive(int),
        default=500_000,
        metavar="N",
        help=HELP["max_requests"],
    )
    add("--json", dest="json_path", type=Path, default=JSON, metavar="PATH", help=HELP["json"])
    add("--database-url", metavar="URL", help=HELP["database_url"])
    add("--env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE", help=HELP["env"])
    add("--keep-throttles", action="store_true", help=HELP["keep_throttles"])
    args = vars(parser.parse_args(argv))
    for key, (full, quick, _) in SIZES.items():
        if args[key] is None:
            args[key] = quick if args["quick"] else full
    args["overload_concurrency"] = (
        args["overload_concurrency"] or OVERLOAD_FACTOR * args["concurrency"]
    )
    return Options(**{**args, "env": dict(args["env"])})
