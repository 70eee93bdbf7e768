"""A bare Quart app: what this hypercorn set-up serves with no app work, the dashboard's ceiling.

Run under the same hypercorn.toml as the real app, so the only difference is the app itself.
"""

from __future__ import annotations

from quart import Quart

app = Quart(__name__)


@app.get("/")
async def hello() -> str:
    return "hello"
