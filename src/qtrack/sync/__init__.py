"""Offline-first sync: devices pull what changed by cursor and push what they did offline."""
