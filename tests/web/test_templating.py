"""Template context: what every page can see, resolved without extra thread hops."""

from __future__ import annotations

import inspect

from quart import Quart

from tests.support.auth import AuthActions, Client


def test_every_context_processor_is_async(app: Quart) -> None:
    # Quart runs a sync context processor in a thread on every render: keep them all async.
    processors = [p for group in app.template_context_processors.values() for p in group]
    assert processors
    assert all(inspect.iscoroutinefunction(processor) for processor in processors)


async def test_viewer_is_the_signed_in_session(client: Client, auth: AuthActions) -> None:
    html = await (await client.get("/")).get_data(as_text=True)
    assert "Signed in as" not in html
    await auth.register("alice")
    html = await (await client.get("/")).get_data(as_text=True)
    assert "Signed in as <strong>alice</strong>" in html


async def test_policy_numbers_come_from_settings(app_config: dict) -> None:
    from quart_app import create_app

    app = create_app({**app_config, "PASSWORD_MIN_LENGTH": 15})
    async with app.test_app():
        html = await (await app.test_client().get("/register")).get_data(as_text=True)
    assert 'minlength="15"' in html and "At least 15 characters" in html
