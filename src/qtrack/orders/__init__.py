"""Restock orders: lines of item type x quantity, their steps, and receiving what arrived."""
