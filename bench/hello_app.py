"""A bare Quart app under the app's hypercorn set-up: the dashboard's ceiling, with no app work."""

from quart import Quart

app = Quart(__name__)


@app.get("/")
async def hello() -> str:
    return "hello"
