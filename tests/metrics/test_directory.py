"""The multiprocess directory: one per server when unset, private, and emptied once per server
start (never by a process that is not a server's worker)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quart_app.metrics import directory
from quart_app.metrics.directory import (
    ENVIRONMENT_VARIABLE,
    MetricsDirectoryError,
    prepare_directory,
)


def test_unset_it_is_a_private_folder_named_after_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory.tempfile, "gettempdir", lambda: str(tmp_path))
    environ: dict[str, str] = {}
    path = prepare_directory(environ)
    assert path == tmp_path / f"quart_app-metrics-{os.getpid()}"
    assert environ[ENVIRONMENT_VARIABLE] == str(path)
    assert path.stat().st_mode & 0o777 == 0o700


def test_folders_of_servers_that_are_gone_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory.tempfile, "gettempdir", lambda: str(tmp_path))
    gone = tmp_path / "quart_app-metrics-999999999"  # above any pid_max: no such process
    gone.mkdir()
    (gone / "counter_1.db").write_bytes(b"x")
    alive = tmp_path / f"quart_app-metrics-{os.getppid()}"
    alive.mkdir()
    prepare_directory({})
    assert not gone.exists()
    assert alive.exists()


def test_a_folder_someone_else_could_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory.tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / f"quart_app-metrics-{os.getpid()}"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(MetricsDirectoryError, match="not a private directory"):
        prepare_directory({})


def test_a_set_directory_is_used_as_is_outside_a_server(tmp_path: Path) -> None:
    """A CLI command beside a live server shares its environment: it must not empty it."""
    kept = tmp_path / "counter_1234.db"
    kept.write_bytes(b"x")
    assert prepare_directory({ENVIRONMENT_VARIABLE: str(tmp_path)}) == tmp_path
    assert kept.exists()


def test_the_first_worker_of_a_server_empties_it_and_its_siblings_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "in_hypercorn_worker", lambda: True)
    (tmp_path / "counter_1.db").write_bytes(b"an earlier run")
    (tmp_path / "server-1-2").touch()
    (tmp_path / "notes.txt").write_text("not ours to remove")
    prepare_directory({ENVIRONMENT_VARIABLE: str(tmp_path)})
    assert not (tmp_path / "counter_1.db").exists()
    assert not (tmp_path / "server-1-2").exists()
    assert (tmp_path / "notes.txt").exists()
    written = tmp_path / "counter_2.db"  # the first worker has begun to count
    written.write_bytes(b"this run")
    prepare_directory({ENVIRONMENT_VARIABLE: str(tmp_path)})  # a sibling worker starts
    assert written.exists()


def test_another_processs_default_folder_inherited_through_the_environment_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test suite or a benchmark prepared its own default folder and then started a server:
    the server's workers must not share (and empty) it."""
    monkeypatch.setattr(directory.tempfile, "gettempdir", lambda: str(tmp_path))
    parents = tmp_path / f"quart_app-metrics-{os.getppid()}"
    parents.mkdir()
    environ = {ENVIRONMENT_VARIABLE: str(parents)}
    path = prepare_directory(environ)
    assert path == tmp_path / f"quart_app-metrics-{os.getpid()}"
    assert environ[ENVIRONMENT_VARIABLE] == str(path)
    assert prepare_directory(environ) == path  # its own default, once set, is kept
