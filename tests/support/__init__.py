"""Importable helpers for this project's tests (conftest files only hold fixtures and hooks)."""
