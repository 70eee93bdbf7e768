"""Prometheus metrics: the instruments the features count with (``instruments``), request
durations by route (``requests``), the scrape's text summed over every worker (``exposition``)
and who may read it (``access``). The route is ``views.metrics``.

Importing this package prepares the multiprocess directory first (``directory``): it has to
exist before prometheus_client is imported anywhere in the process.
"""

from quart_app.metrics.directory import prepare_directory

prepare_directory()
