"""The environment the app servers get, and the settings the app will derive from it.

The bench computes the app's Settings from the very environment it hands to hypercorn, so the
argon2 parameters it times and seeds with are the ones the workers use.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

from quart_app.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HYPERCORN_TOML = PROJECT_ROOT / "hypercorn.toml"
# Settings the app reads that are not (yet) fields of Settings: stripped from the inherited
# environment too, so a run measures the app's defaults unless --env says otherwise.
EXTRA_APP_SETTINGS = ("INSTANCE_PATH", "HASH_QUEUE_LIMIT", "LOG_LEVEL")


# Per-IP and per-user login throttles, turned off (0) unless --keep-throttles: every virtual
# client comes from 127.0.0.1, so a per-IP limit would measure the throttle, not the server.
THROTTLES_OFF = {
    "THROTTLE_LOGIN_PER_MINUTE": "0",
    "THROTTLE_REGISTER_PER_MINUTE": "0",
    "THROTTLE_PAIR_LIMIT": "0",
    "THROTTLE_USER_LIMIT": "0",
}


def throttle_overrides(extra: Mapping[str, str]) -> dict[str, str]:
    """The throttle settings this app version has, off, except those --env sets itself."""
    known = {option.name for option in dataclasses.fields(Settings)}
    return {
        name: value for name, value in THROTTLES_OFF.items() if name in known and name not in extra
    }


# Left out of the limiter's servers whatever --env says: they run the app's default throttles
# (but for what the scenario raises) on a fresh SQLite database in their own instance folder,
# with their counters there, or in --env's REDIS_URL under a key prefix of their own.
LIMITER_IGNORES_ENV = ("DATABASE_URL", "INSTANCE_PATH")
THROTTLE_PREFIX = "THROTTLE_"


def limiter_environment(
    instance_path: Path, extra: Mapping[str, str], throttles: Mapping[str, str]
) -> dict[str, str]:
    """A limiter server's environment: the main one's, with the --env settings that are not
    about throttles or the database (so HASH_POOL_SIZE and the like match), plus ``throttles``."""
    kept = {
        name: value
        for name, value in extra.items()
        if not name.startswith(THROTTLE_PREFIX) and name not in LIMITER_IGNORES_ENV
    }
    if kept.get("REDIS_URL"):
        # Counters in a Redis that outlives the server: start from none, as the fresh SQLite
        # database would, under a key prefix of this server's own.
        prefix = kept.get("REDIS_KEY_PREFIX", "quart_app:")
        kept["REDIS_KEY_PREFIX"] = f"{prefix}bench-{secrets.token_hex(6)}:"
    return app_environment(
        instance_path, database_url=None, extra={**kept, **throttles}, throttles_off={}
    )


def throttle_settings(settings: Settings) -> dict[str, int]:
    """Every throttle setting as the app derived it: what a limiter server ran with."""
    return {
        option.name: getattr(settings, option.name)
        for option in dataclasses.fields(Settings)
        if option.name.startswith(THROTTLE_PREFIX)
    }


def app_setting_names() -> set[str]:
    return {option.name for option in dataclasses.fields(Settings)} | set(EXTRA_APP_SETTINGS)


def app_environment(
    instance_path: Path,
    *,
    database_url: str | None,
    extra: Mapping[str, str],
    throttles_off: Mapping[str, str],
) -> dict[str, str]:
    """This process's environment without app settings, plus the bench's and the --env ones."""
    names = app_setting_names()
    env = {name: value for name, value in os.environ.items() if name not in names}
    env.update(INSTANCE_PATH=str(instance_path), COOKIE_SECURE="false", PYTHONUNBUFFERED="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(throttles_off)
    env.update(extra)
    return env


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed git arguments, never user input
        ["git", *args],  # noqa: S607 - git from PATH
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()


def app_revision() -> str:
    """The commit measured, and whether the app's files differ from it (work in progress)."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--", "quart_app")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{commit} + uncommitted app changes" if changed else commit


def app_settings(env: Mapping[str, str]) -> Settings:
    """The Settings the app builds from ``env`` (raises the app's own ConfigError if invalid)."""
    return Settings.load(environ=env)


def hash_queue_limit(settings: Settings, env: Mapping[str, str]) -> str:
    """HASH_QUEUE_LIMIT as the app sees it, or why there is none to report."""
    value = getattr(settings, "HASH_QUEUE_LIMIT", None)
    if value is not None:
        return str(value)
    if "HASH_QUEUE_LIMIT" in env:
        return f"{env['HASH_QUEUE_LIMIT']} (ignored: app has no such setting)"
    return "none (app has no such setting)"


def hypercorn_workers() -> int:
    """Worker processes hypercorn.toml asks for (the bench never overrides it)."""
    with HYPERCORN_TOML.open("rb") as file:
        return int(tomllib.load(file).get("workers", 1))
