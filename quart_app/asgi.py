"""The ASGI entry point for servers: ``hypercorn --config hypercorn.toml quart_app.asgi:app``."""

from quart_app import create_app

app = create_app()
