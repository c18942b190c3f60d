"""Alerts: raised once when something needs a person (stock low or out, an item expired)."""
