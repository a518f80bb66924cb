"""CLI commands: posters."""
