"""Webhooks: signed deliveries of the change feed to endpoints that integrators register."""
