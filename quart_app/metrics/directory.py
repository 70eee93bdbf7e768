"""The directory where every worker's metric files live, made ready before prometheus_client is
imported (it picks its multiprocess mode from PROMETHEUS_MULTIPROC_DIR at import).

In multiprocess mode each worker writes its counters to memory-mapped files named after its pid,
and a scrape sums the files of all of them. Unset, the directory is one per server: a folder in
the temporary directory named after the hypercorn master, which every worker computes alike, so
a new server starts from zero and folders of servers that are gone are removed (a default
folder of another process, inherited through the environment, is not shared). Set by the
operator (a systemd RuntimeDirectory, say), it is emptied once when a hypercorn server starts,
by the first of its workers. A process that is not a hypercorn worker (a CLI command, a test
client) never empties it: a command run beside a live server must not wipe its counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from quart_app.core.server_process import in_hypercorn_worker, server_pid

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_PREFIX = "quart_app-metrics-"
SERVER_MARKER_PREFIX = "server-"
LOCK_NAME = ".lock"


class MetricsDirectoryError(RuntimeError):
    """The default directory exists but is not ours: someone else could read or forge it."""


def prepare_directory(environ: MutableMapping[str, str] = os.environ) -> Path:
    """The directory prometheus_client will use, created (and emptied, see above) as needed;
    sets PROMETHEUS_MULTIPROC_DIR in ``environ`` when it was unset."""
    configured = environ.get(ENVIRONMENT_VARIABLE, "")
    if configured and _is_another_servers_default(Path(configured)):
        configured = ""  # inherited from the process that started this one: not ours to share
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = Path(tempfile.gettempdir()) / f"{DEFAULT_PREFIX}{server_pid()}"
        _remove_folders_of_gone_servers(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)
        _check_owned(path)
        environ[ENVIRONMENT_VARIABLE] = str(path)
    if in_hypercorn_worker():
        _empty_once_per_server(path)
    return path


def _is_another_servers_default(path: Path) -> bool:
    """A default folder of another server: a process that prepared its own default and then
    started this one (a test suite starting servers, a benchmark) passed it down in the
    environment. Shared, this server's first worker would empty the other's counts."""
    return (
        path.parent == Path(tempfile.gettempdir())
        and path.name.startswith(DEFAULT_PREFIX)
        and path.name != f"{DEFAULT_PREFIX}{server_pid()}"
    )


def _check_owned(path: Path) -> None:
    """A folder in a shared /tmp that another user made first would let them read the counts or
    plant files: refuse anything but a real directory of ours, closed to others."""
    status = path.lstat()
    if path.is_symlink() or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise MetricsDirectoryError(
            f"{path} is not a private directory of this user: remove it, or set "
            f"{ENVIRONMENT_VARIABLE} to a directory of the app's own"
        )


def _empty_once_per_server(path: Path) -> None:
    """The first worker of a server start removes the metric files of earlier runs; its
    siblings, racing it, find the server's marker and keep what it has begun to write."""
    marker = path / f"{SERVER_MARKER_PREFIX}{_process_identity(server_pid())}"
    with open(path / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        for entry in path.iterdir():
            if entry.suffix == ".db" or entry.name.startswith(SERVER_MARKER_PREFIX):
                entry.unlink(missing_ok=True)
        marker.touch()


def _process_identity(pid: int) -> str:
    """The pid with the process's start time, so a reused pid is another server."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return str(pid)
    # Field 22 (starttime) counts after the parenthesised command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{pid}-{fields[19]}" if len(fields) > 19 else str(pid)


def _remove_folders_of_gone_servers(parent: Path) -> None:
    for folder in parent.glob(f"{DEFAULT_PREFIX}*"):
        pid = folder.name.removeprefix(DEFAULT_PREFIX)
        if not pid.isdigit() or _is_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid():
                shutil.rmtree(folder)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
