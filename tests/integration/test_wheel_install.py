"""The package installs from a wheel (not editable) and runs from any directory.

Templates, static files and migrations are package data: a wheel without them started with
alembic's "Path doesn't exist: …/site-packages/migrations" and no templates to render.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from quart_app.testing.server import (
    free_port,
    server_environment,
    spawn_server,
    stop_server,
    wait_until_healthy,
)
from tests.support.servers import PROJECT_ROOT

# What a wheel is built from; the rest (tests, the benchmark, a venv) is not the package's.
SOURCES = ("quart_app", "pyproject.toml", "README.md")


def build_wheel(workdir: Path) -> Path:
    """Build the wheel from a copy of the sources, so the checkout gets no build/ folder."""
    source = workdir / "source"
    source.mkdir()
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(workdir), str(source)],
        check=True,
    )
    [wheel] = workdir.glob("quart_app-*.whl")
    return wheel


def test_a_wheel_install_serves_pages_from_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import quart_app; print(quart_app.__file__)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(located).is_relative_to(venv), located  # the installed copy, not the checkout

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    env = server_environment(tmp_path / "instance", secret_key=None)  # SQLite: the default
    command = [
        str(venv / "bin" / "hypercorn"),
        "--config",
        str(PROJECT_ROOT / "hypercorn.toml"),
        "--bind",
        f"127.0.0.1:{port}",
        "quart_app.asgi:app",
    ]
    with log_path.open("wb") as log_file:
        process = spawn_server(command, cwd=elsewhere, env=env, log_file=log_file)
        try:
            wait_until_healthy(process, base_url, log_path)  # the migrations ran
            with httpx.Client(base_url=base_url, timeout=10) as client:
                home = client.get("/")
                assert home.status_code == 200
                assert 'name="csrf_token"' in client.get("/login").text  # a rendered template
                assert "<!doctype html>" in home.text.lower()
                assert client.get("/static/style.css").status_code == 200
                assert client.get("/healthz").json() == {"status": "ok"}
        finally:
            stop_server(process)
    assert "Traceback" not in log_path.read_text(encoding="utf-8", errors="replace")
