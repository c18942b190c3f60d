"""Errors of packing and unpacking, each with its status and stable code."""

from qtrack.core.errors import Conflict


class NotAContainer(Conflict):
    code, message = "not_a_container", "Items of this type cannot hold other items"


class ContainerCycle(Conflict):
    code, message = (
        "container_cycle",
        "An item cannot be packed into itself or into its own contents",
    )
