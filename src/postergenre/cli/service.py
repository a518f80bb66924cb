"""CLI commands: service."""
