"""A client that goes away cancels no handler: the work it started runs to its end."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart, request

from quart_app.state import get_hasher
from quart_app.web.request_completion import ClientDisconnected


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


async def serve_then_disconnect(app: Quart, path: str, *, body: bytes | None) -> list[dict]:
    """Call the app as a server would; the client leaves right after ``body`` (None: before any
    body arrives). Returns what the app sent."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    if body is not None:
        incoming.put_nowait({"type": "http.request", "body": body, "more_body": False})
    incoming.put_nowait({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"10")]
    await app(http_scope("POST", path, headers), incoming.get, send)
    return sent


async def test_a_disconnect_does_not_cancel_work_in_progress(app: Quart) -> None:
    finished: list[str] = []
    started = asyncio.Event()

    @app.post("/test-slow-work")
    async def slow_work() -> str:
        started.set()
        await asyncio.sleep(0.2)  # the disconnect is delivered meanwhile
        finished.append("commit")
        return "done"

    app.before_request_funcs[None] = []  # no CSRF or throttle: this tests the connection only
    sent = await serve_then_disconnect(app, "/test-slow-work", body=b"0123456789")
    assert started.is_set()
    assert finished == ["commit"]
    assert sent[0]["status"] == 200


async def test_a_body_cut_off_by_a_disconnect_fails_with_client_disconnected(app: Quart) -> None:
    seen: list[BaseException] = []

    @app.post("/test-read-body")
    async def read_body() -> str:
        try:
            await request.get_data()
        except ClientDisconnected as error:
            seen.append(error)
            raise
        return "read"

    app.before_request_funcs[None] = []
    sent = await serve_then_disconnect(app, "/test-read-body", body=None)
    assert len(seen) == 1
    assert sent[0]["status"] == 400


async def test_a_hash_queued_for_a_departed_client_is_not_computed(app: Quart) -> None:
    hasher = get_hasher(app)
    computed: list[str] = []
    real_hash = hasher.hasher.hash

    class CountingHasher:
        def hash(self, password: str) -> str:
            computed.append(password)
            return real_hash(password)

    hasher.hasher = CountingHasher()
    outcome: list[str] = []

    @app.post("/test-hash")
    async def hash_after_a_while() -> str:
        await asyncio.sleep(0.1)  # the client leaves meanwhile (before the hash's turn)
        try:
            await hasher.hash("a password nobody waits for")
        except ClientDisconnected:
            outcome.append("skipped")
            raise
        outcome.append("hashed")
        return "hashed"

    app.before_request_funcs[None] = []
    sent = await serve_then_disconnect(app, "/test-hash", body=b"0123456789")
    assert outcome == ["skipped"]
    assert computed == []
    assert sent[0]["status"] == 400
    # Outside a departed request the pool hashes as ever.
    assert (await hasher.hash("still hashed")).startswith("$argon2id$")
    assert computed == ["still hashed"]
