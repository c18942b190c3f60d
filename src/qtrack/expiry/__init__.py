"""Expiry: what is expiring soon or expired, the daily sweep to the expired state, and FEFO
(the lot that expires first). The rules that refuse using an expired item are the items'."""
