"""CLI commands: model."""
