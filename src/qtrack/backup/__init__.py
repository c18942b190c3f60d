"""Backups made while the server runs, and restores into an empty database."""
