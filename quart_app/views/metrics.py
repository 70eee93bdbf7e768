"""GET /metrics: Prometheus's text format, summed over every worker of this server; a 404 for
anyone METRICS_ALLOW and METRICS_TOKEN do not let in (metrics.access)."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, abort

from quart_app.core.database import get_db
from quart_app.mail.sender import pending_mail_count
from quart_app.metrics.access import may_read_metrics
from quart_app.metrics.exposition import scrape_text
from quart_app.state import get_metrics_networks, get_settings, get_trusted_proxies

bp = Blueprint("metrics", __name__)
# The text format every Prometheus version reads (prometheus_client's default answer, too).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/metrics")
async def scrape() -> Response:
    if not may_read_metrics(get_settings(), get_metrics_networks(), get_trusted_proxies()):
        abort(404)
    db = get_db()
    pending = await pending_mail_count(db)
    await db.commit()
    body = await asyncio.to_thread(scrape_text, pending)  # it reads every worker's files
    return Response(body, content_type=TEXT_FORMAT)
