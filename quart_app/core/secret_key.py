"""A generated SECRET_KEY for runs that set none: made once, atomically, shared by every worker."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret_key"


def load_or_create_secret_key(instance_path: str | os.PathLike[str]) -> str:
    """Return the key stored in the instance folder, creating it first if there is none.

    Several hypercorn workers start at once; each must end up with the same key or a cookie
    signed by one worker is refused by the next. The key is written to a private temporary file
    and hard-linked into place: the link either appears whole or fails because another worker
    won, and then that worker's key is read.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEY_FILE_NAME
    if not path.exists():
        log.warning(
            "SECRET_KEY is not set: using a generated key stored in %s. Set SECRET_KEY in "
            "production so that every host signs cookies with the same key.",
            path,
        )
        _create(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to have a new one generated")
    return key


def _create(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker created it first; its key is the one everybody uses
    finally:
        temporary.unlink(missing_ok=True)
