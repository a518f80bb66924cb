"""CLI commands: predict."""
