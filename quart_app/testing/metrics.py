"""Reading the app's /metrics in tests: ``read_metrics(client)`` through Quart's test client,
``parse_metrics(text)`` for a real server's answer. Metrics are per process and shared by every
app a test suite makes, so compare two readings (``after.delta(before, ...)``), not a reading
with zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from quart.typing import TestClientProtocol

LOOPBACK_CLIENT = {"client": ("127.0.0.1", 40000)}  # Quart's test client sends no peer address


@dataclass(frozen=True)
class MetricsReading:
    """Every sample of one scrape, by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0.0 when the scrape did not have it."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.samples.items() if n == name and wanted <= found)

    def delta(self, earlier: MetricsReading, name: str, **labels: str) -> float:
        return self.value(name, **labels) - earlier.value(name, **labels)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


def parse_metrics(text: str) -> MetricsReading:
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return MetricsReading(samples)


async def read_metrics(client: TestClientProtocol) -> MetricsReading:
    """Scrape /metrics as Prometheus on the same host would (from 127.0.0.1)."""
    response = await client.get("/metrics", scope_base=LOOPBACK_CLIENT)
    assert response.status_code == 200, f"/metrics answered {response.status_code}"
    return parse_metrics(await response.get_data(as_text=True))
