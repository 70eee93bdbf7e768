"""Throttling: the policy (failure limits per name and per address, backoff, per-IP request
rates declared on routes) over a counter store, kept in the database or in Redis."""
