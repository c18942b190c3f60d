"""The item pages: an item with its state, contents and history, the bulk actions of the items
list, and where a label's QR leads. Pages only: they compose items, containers, history and
labels, so they sit above all of them."""
