"""Label tokens and the Ed25519 keys that sign them: an item's identity, below every domain
that names items."""
