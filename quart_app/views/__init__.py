"""Blueprints: thin views that call services, never SQL or argon2 directly."""
