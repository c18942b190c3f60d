"""Signed checkpoints over every item's chain head: history evident against the database's owner."""
