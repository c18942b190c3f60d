"""What a scanned string is: signed label tokens, item and location codes, GS1 data."""
