"""Reading the event log: histories, the feed, and proofs that the chains are intact."""
