"""Workflows as data: states, the initial state, and the transitions between them."""
