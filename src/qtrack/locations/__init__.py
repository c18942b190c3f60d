"""The location tree: site > building > zone > rack > shelf, each with its own code."""
