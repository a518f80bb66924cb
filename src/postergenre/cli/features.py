"""CLI commands: features."""
