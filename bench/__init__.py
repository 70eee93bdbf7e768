"""Load benchmark for quart-app: run it with ``python -m bench`` from the repository root.

It starts the app under hypercorn exactly as the README does, drives it over loopback with
aiohttp clients, and prints one table of measured numbers against the project's targets.
"""
