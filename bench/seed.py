"""The sync seed for comparison: the Flask-Login tutorial app (bench/seed_app) under gunicorn
with as many sync workers as the app has hypercorn workers, on the app's kind of database (a
fresh SQLite one, or the PostgreSQL that --database-url names), its users signed in through its
login form, then /dashboard driven by wrk as the app's is."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import appenv, wrk
from bench.load import BenchError, Client, Progress, SeededUsers
from bench.options import Options
from quart_app.testing.server import (
    APP_SETTINGS,
    LiveServer,
    free_port,
    spawn_server,
    stop_server,
    wait_until_healthy,
)

SEED_APP = "bench.seed_app:create_app()"
SIGN_IN_CONCURRENCY = 4  # logins at once: each costs a werkzeug scrypt hash on a sync worker


def seed_database(database_uri: str, count: int) -> SeededUsers:
    """``count`` users in a new database, all with one werkzeug hash of appenv.PASSWORD."""
    from werkzeug.security import generate_password_hash

    from bench.seed_app import create_app, db
    from bench.seed_app.models import User

    prefix = f"s{secrets.token_hex(4)}-"
    usernames = [f"{prefix}{number:05d}" for number in range(count)]
    password_hash = generate_password_hash(appenv.PASSWORD)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "seeding"})
    with app.app_context():
        db.create_all()
        db.session.add_all(User(username=name, password_hash=password_hash) for name in usernames)
        db.session.commit()
        db.engine.dispose()
    return SeededUsers(usernames, appenv.PASSWORD, prefix)


def seed_database_uri(options: Options, folder: Path) -> tuple[str, str]:
    """The seed's database URL and its name in the report. It reads what the app reads: on a
    --database-url PostgreSQL the same server and database, through psycopg (a sync app needs
    a sync driver); otherwise a fresh SQLite file, as the app's default."""
    if options.database_url:
        url = make_url(options.database_url)
        if url.get_backend_name() == "postgresql":
            uri = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            return uri, "--database-url's PostgreSQL (psycopg)"
    return f"sqlite:///{folder / 'seed.sqlite3'}", "SQLite"


def drop_seed_tables(database_uri: str) -> None:
    """Drop the seed's table from a database it shares with the app (its users go with it)."""
    from bench.seed_app import create_app, db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "dropping"})
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def seed_environment(database_uri: str) -> dict[str, str]:
    """This process's environment without app or gunicorn settings, plus the seed's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in APP_SETTINGS and name != "GUNICORN_CMD_ARGS"
    }
    env.update(
        SEED_DATABASE_URI=database_uri,
        SEED_SECRET_KEY=secrets.token_hex(32),  # one key for every worker
        PYTHONUNBUFFERED="1",
    )
    return env


def gunicorn_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        f"--workers={workers}",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--error-logfile=-",  # no access log, as the app has none
        SEED_APP,
    ]


@contextmanager
def run_gunicorn(env: Mapping[str, str], log_path: Path, workers: int) -> Iterator[LiveServer]:
    """The seed under gunicorn on a free loopback port, its process group stopped at the end
    of the block, whatever ends it (the shared launcher's spawn, wait and stop)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log_file:
        process = spawn_server(
            gunicorn_command(port, workers), cwd=appenv.PROJECT_ROOT, env=env, log_file=log_file
        )
    try:
        wait_until_healthy(process, base_url, log_path, health_path="/login")
        yield LiveServer(base_url, port, process, dict(env), log_path)
    finally:
        stop_server(process)


async def sign_in(client: Client, base_url: str, username: str, password: str) -> str:
    """A browser's login on the tutorial's form (GET it, POST it: 302 to the home page), checked
    on /dashboard; the Cookie header that session sends."""
    form = {"username": username, "password": password}
    for method, path, expected, data in (
        ("GET", "/login", 200, None),
        ("POST", "/login", 302, form),
        ("GET", "/dashboard", 200, None),
    ):
        outcome, _ = await client.send(method, path, expected, data)
        if outcome.kind != "ok":
            raise BenchError(f"seed: could not sign in {username}: {method} {outcome.label}")
    return wrk.cookie_header(client.session, base_url)


async def signed_in_cookies(server: LiveServer, users: SeededUsers, options: Options) -> list[str]:
    """K sessions, signed in a few at a time, their aiohttp clients then closed."""
    count, names = options.dashboard_clients, users.usernames
    semaphore = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

    async def one(number: int) -> str:
        # The generator picks no user here (sign_in names one); it seeds nothing secret.
        client = Client(server.base_url, options.timeout, users, random.Random(number))  # noqa: S311
        try:
            async with semaphore:
                name = names[number % len(names)]
                return await sign_in(client, server.base_url, name, users.password)
        finally:
            await client.session.close()

    return await asyncio.gather(*(one(number) for number in range(count)))


def seed(options: Options, progress: Progress, folder: Path, logs: Path) -> dict[str, Any]:
    """The seed's /dashboard under wrk with the app's K and D: req/s, server CPU per request."""
    uri, database = seed_database_uri(options, folder)
    users = seed_database(uri, options.users)
    try:
        return _measure(options, progress, logs, uri, database, users)
    finally:
        if not uri.startswith("sqlite"):
            drop_seed_tables(uri)


def _measure(
    options: Options, progress: Progress, logs: Path, uri: str, database: str, users: SeededUsers
) -> dict[str, Any]:
    workers = appenv.hypercorn_workers()
    described = {
        "app": f"Flask-Login tutorial (bench/seed_app), Flask-SQLAlchemy on {database}",
        "database": database,
        "server": f"gunicorn {metadata.version('gunicorn')}, {workers} sync workers",
        "versions": {
            name: metadata.version(name) for name in ("flask", "flask-login", "flask-sqlalchemy")
        },
    }
    with run_gunicorn(seed_environment(uri), logs / "seed.log", workers) as server:
        progress.note(f"seed: {SEED_APP} under gunicorn answering at {server.base_url}")

        async def measured() -> dict[str, Any]:
            cookies = await signed_in_cookies(server, users, options)
            count = options.dashboard_clients
            progress.note(f"seed: {len(cookies)} sessions signed in; wrk, {count} connections")
            return await wrk.drive(server, "/dashboard", count, options, cookies)

        return {**described, **asyncio.run(measured())}
