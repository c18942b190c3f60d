"""Stock: on-hand per item type and location, kept in step with every change; levels."""
