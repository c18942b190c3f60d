"""Containers: items packed into items, their contents and weights."""
