"""The web UI: dashboard, scan screen, items, locations, and what makes it an installable PWA."""
