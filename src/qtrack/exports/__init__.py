"""Data out: items, events, locations, bills and restock orders as CSV, .xlsx or JSON Lines,
streamed."""
