"""Counts kept current with every change: by type and status, and by location."""
