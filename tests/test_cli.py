"""The command-line tasks: ``init-db`` and ``create-user`` through Quart's CLI test runner."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from cryptography.fernet import Fernet
from quart import Quart
from quart.testing import QuartCliRunner
from sqlalchemy import func, select

from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.accounts.users import create_user
from quart_app.core.schema import head_revision
from quart_app.events.models import AuthEvent
from quart_app.mfa.encryption import SecretBox
from quart_app.mfa.models import RecoveryCode, TotpCredential
from quart_app.sessions.models import UserSession
from quart_app.sessions.store import issue_session
from quart_app.state import get_database, get_hasher, get_settings
from quart_app.testing.totp import TotpDevice, enrol_totp
from tests.support.servers import APP_SETTINGS, PROJECT_ROOT

QUART = Path(sys.executable).with_name("quart")

PASSWORD = "correct horse battery"
PASSWORD_INPUT = f"{PASSWORD}\n{PASSWORD}\n"


def cli_app(instance_path: Path, **settings: object) -> Quart:
    """An app on ``instance_path``'s database; a new one per start (serving runs once)."""
    return create_app(
        {
            "INSTANCE_PATH": str(instance_path),
            "SECRET_KEY": "x" * 40,
            "COOKIE_SECURE": False,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "ARGON2_PARALLELISM": 1,
            "HASH_POOL_SIZE": 1,
            **settings,
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> Quart:
    return cli_app(tmp_path)


@pytest.fixture
def runner(app: Quart) -> QuartCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


def invoke(runner: QuartCliRunner, args: Sequence[str], input: str | None = None) -> Result:
    result: Result = runner.invoke(args=list(args), input=input)
    return result


def tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def users(database: Path) -> list[tuple[str, str, str]]:
    """(username, username_key, password_hash) of every user; none if there is no database."""
    if not database.exists() or "users" not in tables(database):
        return []
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(
            "SELECT username, username_key, password_hash FROM users ORDER BY id"
        ).fetchall()


def test_db_upgrade_brings_an_old_database_to_the_latest_revision(
    runner: QuartCliRunner, database: Path
) -> None:
    assert invoke(runner, ["init-db"]).exit_code == 0
    with closing(sqlite3.connect(database)) as connection:  # as if made by the first revision
        connection.execute("DROP TABLE auth_events")
        connection.execute("DROP TABLE throttle_counters")
        connection.execute("DROP TABLE mail_outbox")
        connection.execute("DROP TABLE account_tokens")
        for table in (
            "webauthn_challenges",
            "passkeys",
            "pending_sign_ins",
            "recovery_codes",
            "totp_enrolments",
            "totp_credentials",
        ):
            connection.execute(f"DROP TABLE {table}")
        connection.execute("ALTER TABLE users DROP COLUMN two_factor_since")
        connection.execute("ALTER TABLE users DROP COLUMN locked_at")
        connection.execute("DROP INDEX uq_users_email_key")
        connection.execute("ALTER TABLE users DROP COLUMN email")
        connection.execute("ALTER TABLE users DROP COLUMN email_key")
        connection.execute("ALTER TABLE sessions DROP COLUMN kind")
        connection.execute("ALTER TABLE sessions DROP COLUMN name")
        connection.execute("ALTER TABLE sessions DROP COLUMN ip")
        stamp = "2026-12-01 10:00:00.000000"
        connection.execute(
            "INSERT INTO users VALUES (1, 'ann', 'ann', 'x', ?)", (stamp,)
        )  # a browser signed in before the upgrade
        connection.execute(
            "INSERT INTO sessions VALUES (1, 'digest', 1, ?, ?, ?, 0, 'ua')", (stamp,) * 3
        )
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
        connection.commit()
    result = invoke(runner, ["db-upgrade"])
    assert result.exit_code == 0, result.output
    assert f"Database at revision {head_revision()}." in result.output
    assert {"auth_events", "throttle_counters", "mail_outbox", "account_tokens"} <= tables(database)
    assert {"totp_credentials", "recovery_codes", "pending_sign_ins"} <= tables(database)
    with closing(sqlite3.connect(database)) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}
        kept = connection.execute("SELECT token_digest, kind, name, ip FROM sessions").fetchall()
    assert {"kind", "name", "ip"} <= columns
    assert kept == [("digest", "browser", None, "")]  # still a browser's; its address unknown


def test_init_db_creates_the_tables(runner: QuartCliRunner, database: Path) -> None:
    assert not database.exists()
    result = invoke(runner, ["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready." in result.output
    assert {"users", "sessions"} <= tables(database)
    assert users(database) == []

    # Running it again is harmless: the tables and their rows stay.
    result = invoke(runner, ["init-db"])
    assert result.exit_code == 0, result.output
    assert {"users", "sessions"} <= tables(database)


def test_create_user_stores_an_argon2id_hash(runner: QuartCliRunner, database: Path) -> None:
    result = invoke(runner, ["create-user", "alice"], input=PASSWORD_INPUT)
    assert result.exit_code == 0, result.output
    assert "Created user alice." in result.output
    assert PASSWORD not in result.output

    [(username, username_key, password_hash)] = users(database)
    assert (username, username_key) == ("alice", "alice")
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash


def test_create_user_refuses_a_taken_name_in_any_case(
    runner: QuartCliRunner, database: Path
) -> None:
    assert invoke(runner, ["create-user", "alice"], input=PASSWORD_INPUT).exit_code == 0
    before = users(database)
    assert len(before) == 1

    result = invoke(runner, ["create-user", "ALICE"], input=PASSWORD_INPUT)
    assert result.exit_code != 0
    assert "taken" in result.output
    assert PASSWORD not in result.output
    assert users(database) == before


def test_create_user_refuses_a_short_password(runner: QuartCliRunner, database: Path) -> None:
    short = "short pass"  # 10 characters: the minimum is 12
    result = invoke(runner, ["create-user", "bob"], input=f"{short}\n{short}\n")
    assert result.exit_code != 0
    assert "Use at least 12 characters." in result.output
    assert short not in result.output
    assert users(database) == []


def test_create_user_refuses_an_invalid_username(runner: QuartCliRunner, database: Path) -> None:
    result = invoke(runner, ["create-user", "a b"], input=PASSWORD_INPUT)
    assert result.exit_code == 2  # click's usage error
    assert "USERNAME" in result.output
    assert "Use only letters" in result.output
    # Refused before the password is asked for: nothing prompted, nothing echoed, nothing stored.
    assert "Password" not in result.output
    assert users(database) == []


def test_create_user_needs_matching_confirmation(runner: QuartCliRunner, database: Path) -> None:
    other = "a different passphrase"
    result = invoke(
        runner, ["create-user", "carol"], input=f"{PASSWORD}\n{other}\n{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output or "don't match" in result.output
    assert PASSWORD not in result.output
    assert other not in result.output
    [(username, _key, _hash)] = users(database)
    assert username == "carol"


def test_the_password_is_never_echoed(runner: QuartCliRunner, database: Path) -> None:
    """Across success and every failure, the typed password stays out of the output."""
    outputs = [
        invoke(runner, ["create-user", "dave"], input=PASSWORD_INPUT).output,
        invoke(runner, ["create-user", "Dave"], input=PASSWORD_INPUT).output,
        invoke(runner, ["create-user", "erin"], input="tiny secret\ntiny secret\n").output,
    ]
    for output in outputs:
        assert "Password" in output  # the prompt is shown...
        assert PASSWORD not in output  # ...but what was typed is not
        assert "tiny secret" not in output
    assert [username for username, _key, _hash in users(database)] == ["dave"]


@pytest.mark.parametrize(
    ("args", "setting", "value", "line"),
    [
        (
            ["create-user", "bob"],
            "PASSWORD_MIN_LENGTH",
            "abc",
            "Error: configuration error: PASSWORD_MIN_LENGTH must be a whole number; got 'abc'",
        ),
        (
            ["db-upgrade"],
            "DATABASE_URL",
            "bogus://x",
            "Error: configuration error: DATABASE_URL names no database SQLAlchemy knows: 'bogus'",
        ),
    ],
)
def test_a_bad_setting_stops_a_command_with_one_line_naming_it(
    tmp_path: Path, args: list[str], setting: str, value: str, line: str
) -> None:
    """Through the real ``quart`` command: Quart builds the app before the command is found."""
    env = {name: text for name, text in os.environ.items() if name not in APP_SETTINGS}
    env.update(INSTANCE_PATH=str(tmp_path), **{setting: value})
    result = subprocess.run(
        [str(QUART), "--app", "quart_app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""
    assert not (tmp_path / "app.db").exists()  # stopped before touching any database


def password_file(tmp_path: Path, password: str = PASSWORD) -> Path:
    path = tmp_path / "seed-password"
    path.write_text(password + "\n", encoding="utf-8")
    return path


def seed(
    runner: QuartCliRunner, count: int, prefix: str, source: str, stdin: str | None = None
) -> Result:
    args = ["seed-users", "--count", str(count), "--prefix", prefix, "--password-file", source]
    return invoke(runner, args, input=stdin)


def test_seed_users_creates_many_users_with_one_hash(
    runner: QuartCliRunner, database: Path, tmp_path: Path
) -> None:
    result = seed(runner, 1203, "load-", str(password_file(tmp_path)))  # more than one batch
    assert result.exit_code == 0, result.output
    assert "Created 1203 users, load-00000 to load-01202." in result.output
    assert PASSWORD not in result.output
    rows = users(database)
    assert [name for name, _, _ in rows] == [f"load-{n:05d}" for n in range(1203)]
    assert {key for _, key, _ in rows} == {name for name, _, _ in rows}  # already normalised
    [password_hash] = {hash_ for _, _, hash_ in rows}
    assert password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, PASSWORD)


def test_seed_users_reads_the_password_from_standard_input(
    runner: QuartCliRunner, database: Path
) -> None:
    result = seed(runner, 3, "Std.", "-", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert [row[:2] for row in users(database)] == [
        (f"Std.{n:05d}", f"std.{n:05d}") for n in range(3)
    ]


def test_seed_users_is_all_or_nothing(
    runner: QuartCliRunner, database: Path, tmp_path: Path
) -> None:
    source = str(password_file(tmp_path))
    assert seed(runner, 3, "batch", source).exit_code == 0
    before = users(database)
    result = seed(runner, 5, "BATCH", source)  # batch00000-00002 exist, in any case
    assert result.exit_code != 0
    assert "exist already; none was created" in result.output
    assert users(database) == before


@pytest.mark.parametrize(
    ("count", "prefix", "password", "complaint"),
    [
        (3, "has space", PASSWORD, "--prefix"),
        (3, "x" * 30, PASSWORD, "--prefix"),  # the names would pass 32 characters
        (3, "ok", "short pass", "at least"),  # the registration policy's minimum, 12
        (0, "ok", PASSWORD, "--count"),
    ],
)
def test_seed_users_refuses_what_registration_would(
    runner: QuartCliRunner,
    database: Path,
    tmp_path: Path,
    count: int,
    prefix: str,
    password: str,
    complaint: str,
) -> None:
    result = seed(runner, count, prefix, str(password_file(tmp_path, password)))
    assert result.exit_code != 0
    assert complaint in result.output
    assert password not in result.output
    assert users(database) == []


async def _user_with_a_session(app: Quart, username: str) -> User:
    """A user and one browser session of it, in ``app`` (started by the caller)."""
    async with get_database(app).new_db() as db:
        user = await create_user(db, username=username, password=PASSWORD, hasher=get_hasher(app))
        await db.commit()
        await issue_session(
            db, user=user, remember=False, user_agent="ua", settings=get_settings(app)
        )
        await db.commit()
    return user


async def _enrolled(app: Quart, username: str) -> tuple[TotpDevice, int]:
    """A user with two-factor on and a browser session, made through a new app of the same
    database."""
    async with app.test_app():
        user = await _user_with_a_session(app, username)
        return await enrol_totp(app, user), user.id


async def _two_factor_rows(app: Quart, user_id: int) -> tuple[object, ...]:
    """What the account holds of two-factor, read through a new app on the same database."""
    async with app.test_app():
        async with get_database(app).new_db() as db:
            user = await db.get(User, user_id)
            counts = [
                await db.scalar(
                    select(func.count()).select_from(model).where(model.user_id == user_id)
                )
                for model in (TotpCredential, RecoveryCode, UserSession)
            ]
            kinds = (
                await db.scalars(select(AuthEvent.kind).where(AuthEvent.user_id == user_id))
            ).all()
    assert user is not None
    return (user.two_factor_since, *counts, list(kinds))


def test_reset_2fa_turns_it_off_ends_the_sessions_and_records_it(
    runner: QuartCliRunner, tmp_path: Path
) -> None:
    _, user_id = asyncio.run(_enrolled(cli_app(tmp_path), "ann"))
    declined = invoke(runner, ["reset-2fa", "ann"], input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    result = invoke(runner, ["reset-2fa", "ANN"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "Two-factor sign-in is off for ANN; 1 session(s) ended." in result.output
    rows = asyncio.run(_two_factor_rows(cli_app(tmp_path), user_id))
    assert rows == (None, 0, 0, 0, ["two_factor_reset"])
    again = invoke(runner, ["reset-2fa", "ann", "--yes"])
    assert again.exit_code == 1 and "off already" in again.output
    unknown = invoke(runner, ["reset-2fa", "nobody", "--yes"])
    assert unknown.exit_code == 1 and "There is no user 'nobody'" in unknown.output


def test_rotate_mfa_keys_reseals_every_secret_under_the_new_first_key(tmp_path: Path) -> None:
    device, user_id = asyncio.run(_enrolled(cli_app(tmp_path), "ann"))
    new_key = Fernet.generate_key().decode()
    rotated = cli_app(tmp_path, MFA_ENCRYPTION_KEYS=new_key)
    result = invoke(rotated.test_cli_runner(), ["rotate-mfa-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 secret(s)" in result.output

    async def sealed() -> str:
        reader = cli_app(tmp_path, MFA_ENCRYPTION_KEYS=new_key)
        async with reader.test_app():
            async with get_database(reader).new_db() as db:
                credential = await db.get(TotpCredential, user_id)
        assert credential is not None
        return credential.secret

    assert SecretBox([new_key]).open(asyncio.run(sealed())) == device.secret  # the new key alone
    # Without the key the secret was sealed with, nothing opens: said so, nothing changed.
    lost = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "y" * 40,
            "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )
    refused = invoke(lost.test_cli_runner(), ["rotate-mfa-keys"])
    assert refused.exit_code == 1 and "opens with none of the keys" in refused.output


async def _signed_in_user(app: Quart, username: str) -> int:
    """A user with one browser session, made through a new app of the same database."""
    async with app.test_app():
        return (await _user_with_a_session(app, username)).id


async def _login_status(app: Quart, username: str) -> int:
    async with app.test_app():
        client = app.test_client()
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True))
        assert token is not None
        form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
        return (await client.post("/login", form=form)).status_code


def test_users_lock_refuses_every_sign_in_until_unlock(
    runner: QuartCliRunner, tmp_path: Path
) -> None:
    user_id = asyncio.run(_signed_in_user(cli_app(tmp_path), "ann"))
    locked = invoke(runner, ["users", "lock", "ann"])
    assert locked.exit_code == 0, locked.output
    assert "Locked ann; 1 session(s) ended." in locked.output
    assert asyncio.run(_login_status(cli_app(tmp_path), "ann")) == 401  # the right password
    again = invoke(runner, ["users", "lock", "ann"])
    assert again.exit_code == 1 and "locked already" in again.output
    shown = invoke(runner, ["users", "show", "ann"]).output
    assert "locked_at:" in shown and "sessions:             0" in shown

    unlocked = invoke(runner, ["users", "unlock", "ann"])
    assert unlocked.exit_code == 0, unlocked.output
    assert asyncio.run(_login_status(cli_app(tmp_path), "ann")) == 303
    rows = asyncio.run(_two_factor_rows(cli_app(tmp_path), user_id))
    assert rows[-1][:3] == ["account_locked", "login_locked", "account_unlocked"]


def test_users_list_and_show_print_no_secret(runner: QuartCliRunner, tmp_path: Path) -> None:
    asyncio.run(_signed_in_user(cli_app(tmp_path), "ann"))
    listed = invoke(runner, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ann" in listed.output and "1 session(s)" in listed.output
    assert "1 account(s)." in listed.output
    as_json = json.loads(invoke(runner, ["users", "list", "--json"]).output)
    assert as_json[0]["username"] == "ann" and as_json[0]["sessions"] == 1
    assert as_json[0]["two_factor"] is False and as_json[0]["locked_at"] is None
    everything = listed.output + invoke(runner, ["users", "show", "ann"]).output
    assert "argon2" not in everything and "digest" not in everything


def test_users_revoke_sessions_ends_them_and_records_it(
    runner: QuartCliRunner, tmp_path: Path
) -> None:
    user_id = asyncio.run(_signed_in_user(cli_app(tmp_path), "ann"))
    result = invoke(runner, ["users", "revoke-sessions", "ann"])
    assert result.exit_code == 0 and "Ended 1 session(s) of ann." in result.output
    rows = asyncio.run(_two_factor_rows(cli_app(tmp_path), user_id))
    assert rows[3] == 0 and rows[-1] == ["session_revoked"]


@pytest.mark.parametrize("command", ["show", "lock", "unlock", "revoke-sessions"])
def test_users_commands_refuse_an_unknown_user(runner: QuartCliRunner, command: str) -> None:
    result = invoke(runner, ["users", command, "nobody"])
    assert result.exit_code == 1 and "There is no user 'nobody'." in result.output
