"""EPCIS 2.0: qtrack's history as EPCIS events (query, export) and partners' events captured."""
