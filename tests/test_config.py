"""Settings parsed once from the environment; a bad value is a clear start-up error."""

from __future__ import annotations

import pytest

from quart_app import create_app
from quart_app.config import ConfigError, Settings


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.load(environ={})
    assert settings.COOKIE_SECURE is True
    assert settings.PASSWORD_MIN_LENGTH == 12 and settings.PASSWORD_MAX_LENGTH == 1024
    assert (settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST) == (2, 19456)
    assert settings.ARGON2_PARALLELISM == 1
    assert settings.SESSION_IDLE_TIMEOUT == 1800 and settings.SESSION_ABSOLUTE_TIMEOUT == 43200
    assert settings.SESSION_REMEMBER_DURATION == 30 * 86400
    assert settings.SECRET_KEY is None and settings.DATABASE_URL is None
    assert settings.REDIS_URL is None and settings.REDIS_KEY_PREFIX == "quart_app:"
    assert (settings.DATABASE_POOL_SIZE, settings.DATABASE_MAX_OVERFLOW) == (16, 4)
    assert settings.MAIL_RETRY_DELAYS == (60, 300, 900, 2400)


def test_environment_values_are_parsed() -> None:
    settings = Settings.load(
        environ={
            "COOKIE_SECURE": "false",
            "PASSWORD_MIN_LENGTH": "16",
            "DATABASE_URL": "sqlite+aiosqlite:///x.db",
            "SECRET_KEY_FALLBACKS": "a" * 32 + ", " + "b" * 32,
            "MAIL_RETRY_DELAYS": "5, 30",
        }
    )
    assert settings.COOKIE_SECURE is False
    assert settings.PASSWORD_MIN_LENGTH == 16
    assert settings.DATABASE_URL == "sqlite+aiosqlite:///x.db"
    assert settings.SECRET_KEY_FALLBACKS == ("a" * 32, "b" * 32)
    assert settings.MAIL_RETRY_DELAYS == (5, 30)


def test_overrides_win_over_environment() -> None:
    settings = Settings.load(
        environ={"PASSWORD_MIN_LENGTH": "16"}, overrides={"PASSWORD_MIN_LENGTH": 20}
    )
    assert settings.PASSWORD_MIN_LENGTH == 20


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"COOKIE_SECURE": "maybe"}, "COOKIE_SECURE must be one of"),
        ({"PASSWORD_MIN_LENGTH": "twelve"}, "PASSWORD_MIN_LENGTH must be a whole number"),
        ({"PASSWORD_MIN_LENGTH": "4"}, "PASSWORD_MIN_LENGTH must be at least 8"),
        ({"HASH_POOL_SIZE": "0"}, "HASH_POOL_SIZE must be at least 1"),
        ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE must be at least 1"),
        ({"DATABASE_MAX_OVERFLOW": "-1"}, "DATABASE_MAX_OVERFLOW must be at least 0"),
        ({"PASSWORD_MIN_LENGTH": "100", "PASSWORD_MAX_LENGTH": "64"}, "must not exceed"),
        ({"SECRET_KEY": "short"}, "at least 32 characters"),
        ({"MAIL_RETRY_DELAYS": "60,soon"}, "MAIL_RETRY_DELAYS must be a whole number"),
        ({"MAIL_RETRY_DELAYS": "0"}, "MAIL_RETRY_DELAYS must be at least 1"),
        ({"MAIL_RETRY_DELAYS": ",".join(["60"] * 21)}, "at most 20 values"),
    ],
)
def test_bad_values_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(environ=environ)


def test_none_is_refused_where_a_setting_has_no_unset_state() -> None:
    assert Settings.load(environ={}, overrides={"REDIS_URL": None}).REDIS_URL is None
    with pytest.raises(ConfigError, match="REDIS_KEY_PREFIX must be a string"):
        Settings.load(environ={}, overrides={"REDIS_KEY_PREFIX": None})


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(environ={}, overrides={"COOKIE_SECURITY": False})


def test_create_app_sets_cookie_flags_deliberately(app_config: dict) -> None:
    app = create_app({**app_config, "COOKIE_SECURE": True})
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["QUART_AUTH_COOKIE_SECURE"] is True
    assert app.config["QUART_AUTH_COOKIE_SAMESITE"] == "Lax"
    assert app.config["QUART_AUTH_DURATION"] == 30 * 86400
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    insecure = create_app({**app_config, "COOKIE_SECURE": False})
    assert insecure.config["SESSION_COOKIE_SECURE"] is False
    assert insecure.config["QUART_AUTH_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATABASE_URL": "bogus://x"}, "DATABASE_URL names no database SQLAlchemy knows: 'bogus'"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL needs an async driver"),
        ({"DATABASE_URL": "postgresql+psycopg2://u@h/db"}, "DATABASE_URL needs an async driver"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "postgresql+asyncpg://u@h:port/db"}, "DATABASE_URL is not a database"),
        ({"DATABASE_URL": "mysql+aiomysql://u@h/db"}, "DATABASE_URL's driver .* not installed"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis://.*; got http://"),
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"REDIS_URL": "garbage"}, "REDIS_URL must start with redis://.*; got no scheme"),
        ({"REDIS_URL": "redis://h:port/0"}, "REDIS_URL is not a Redis URL"),
    ],
)
def test_unusable_service_urls_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(environ=environ)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "sqlite+aiosqlite:///x.db"),
        ("DATABASE_URL", "sqlite+aiosqlite://"),
        ("DATABASE_URL", "postgresql+asyncpg://u@h/db"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
        ("REDIS_URL", "rediss://:secret@redis.example:6380/1"),
        ("REDIS_URL", "unix:///run/redis.sock?db=2"),
    ],
)
def test_usable_service_urls_are_accepted(name: str, url: str) -> None:
    assert getattr(Settings.load(environ={name: url}), name) == url


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "postgresql://app:hunter2-secret@db.example/app"),
        ("DATABASE_URL", "postgresql+asyncpg://app:hunter2-secret@db.example:x/app"),
        ("REDIS_URL", "http://:hunter2-secret@redis.example"),
        ("REDIS_URL", "redis://:hunter2-secret@redis.example:x/0"),
    ],
)
def test_url_errors_never_echo_the_password(name: str, url: str) -> None:
    with pytest.raises(ConfigError, match=name) as error:
        Settings.load(environ={name: url})
    assert "hunter2" not in error.value.report()


def test_a_config_error_reports_one_line_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.load(environ={"PASSWORD_MIN_LENGTH": "abc"})
    assert error.value.report() == (
        "configuration error: PASSWORD_MIN_LENGTH must be a whole number; got 'abc'"
    )
