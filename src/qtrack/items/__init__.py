"""Item types and items: registering, finding, and changing the tracked things."""
