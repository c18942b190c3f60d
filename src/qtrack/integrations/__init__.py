"""Exchanging data with other systems: EPCIS 2.0 (and webhooks, later)."""
