"""Shipments (bills): containers going somewhere, built by scanning, dispatched at once."""
