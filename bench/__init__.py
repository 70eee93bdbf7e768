"""Load benchmark for quart-app: ``python -m bench`` from the repository root (see README.md)."""
