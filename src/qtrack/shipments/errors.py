"""Errors the shipment use cases raise, each with its status and stable code."""

from qtrack.core.errors import Conflict, NotFound, ValidationFailed


class ShipmentNotFound(NotFound):
    code, message = "shipment_not_found", "No such shipment"


class ShipmentNotEditable(Conflict):
    code, message = (
        "shipment_not_editable",
        "The shipment can no longer be changed in its current status",
    )


class ShipmentStatusConflict(Conflict):
    code, message = "shipment_wrong_status", "The shipment's status does not allow this"


class ShipmentEmpty(Conflict):
    code, message = "shipment_empty", "The shipment has no containers"


class ContainerOnOtherShipment(Conflict):
    code, message = "container_on_other_shipment", "The container is already on an open shipment"


class ContainerAlreadyOnShipment(Conflict):
    code, message = "container_already_on_shipment", "The container is already on this shipment"


class ContainerWrongState(Conflict):
    code, message = (
        "container_wrong_state",
        "The container is not in a state it can be shipped from (sealed, for a bag)",
    )


class ContainerPacked(Conflict):
    code, message = (
        "container_packed",
        "The container is packed inside another one; it travels in that one, on its bill",
    )


class NotAContainer(Conflict):
    code, message = "not_a_container", "Only containers (item types that can contain) go on a bill"


class UnknownCode(NotFound):
    code, message = "code_unknown", "The scanned code names no item"


class ContainersBlocked(Conflict):
    code, message = (
        "containers_blocked",
        "Some containers cannot take this step; nothing was changed",
    )


class LineNotFound(NotFound):
    code, message = "shipment_line_not_found", "The container is not on this shipment"


class InvalidScan(ValidationFailed):
    code, message = "scan_invalid", "The scanned data is not valid"
