"""Data out: items, events, locations and bills as CSV, .xlsx or JSON Lines, streamed."""
