"""Fixtures for container tests: the item tests' people and site."""

from tests.items.conftest import crew, site

__all__ = ["crew", "site"]
