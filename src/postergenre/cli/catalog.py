"""CLI commands: catalog."""
