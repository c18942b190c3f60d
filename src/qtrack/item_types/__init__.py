"""Item types: what kinds of things exist, their codes, workflows, units and attribute rules."""
