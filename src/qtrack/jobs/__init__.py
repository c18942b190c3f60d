"""Durable background work: jobs in a table, retries, schedules, and the runners.

Imports only `core`: domains declare their handlers here (`registry.job`, `registry.schedule`)
and enqueue with `service.enqueue` in their own transaction.
"""
