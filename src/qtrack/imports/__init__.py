"""Imports of spreadsheets (CSV, .xlsx): items, locations and item types, all or nothing."""
