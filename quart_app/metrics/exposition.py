"""The scrape: every worker's metric files summed, and the outbox's pending count."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector


class _OutboxPending(Collector):
    """A value read from the database at scrape time (a per-worker gauge could not say it)."""

    def __init__(self, pending: int) -> None:
        self.pending = pending

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "auth_mail_outbox_pending",
            "Mails in the outbox waiting for delivery (queued or to be retried).",
            value=self.pending,
        )


def scrape_text(outbox_pending: int) -> bytes:
    """The text exposition format. It reads every worker's files: run it off the event loop."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry)
    registry.register(_OutboxPending(outbox_pending))
    return generate_latest(registry)
