"""The generated SECRET_KEY: one key per instance folder, whichever worker makes it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from quart_app import create_app
from quart_app.core.secret_key import KEY_FILE_NAME, load_or_create_secret_key


def test_key_is_generated_once_and_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = load_or_create_secret_key(tmp_path)
    assert "SECRET_KEY is not set" in caplog.text
    assert first not in caplog.text  # the key itself is never logged
    assert len(first) >= 32
    assert load_or_create_secret_key(tmp_path) == first
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE_NAME).st_mode)
    assert mode == 0o600


def test_concurrent_processes_agree_on_one_key(tmp_path: Path) -> None:
    # spawn: real separate interpreters, as hypercorn's workers are
    with ProcessPoolExecutor(
        max_workers=4, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        keys = list(pool.map(load_or_create_secret_key, [tmp_path] * 8))
    assert len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]  # no temporary files left


def test_unusable_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("short")
    with pytest.raises(RuntimeError, match="no usable key"):
        load_or_create_secret_key(tmp_path)


def test_app_without_secret_key_uses_generated_one(app_config: dict) -> None:
    config = {key: value for key, value in app_config.items() if key != "SECRET_KEY"}
    first, second = create_app(config), create_app(config)
    assert first.secret_key == second.secret_key
    assert first.secret_key == (Path(config["INSTANCE_PATH"]) / KEY_FILE_NAME).read_text()
