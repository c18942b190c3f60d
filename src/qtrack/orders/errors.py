"""Errors the order use cases raise, each with its status and stable code."""

from qtrack.core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed


class OrderNotFound(NotFound):
    code, message = "order_not_found", "No such order"


class OrderLineNotFound(NotFound):
    code, message = "order_line_not_found", "The order has no such line"


class OrderNotEditable(Conflict):
    code, message = "order_not_editable", "Lines can be changed only while the order is a draft"


class OrderWrongStatus(Conflict):
    code, message = "order_wrong_status", "The order's status does not allow this step"


class OrderEmpty(Conflict):
    code, message = "order_empty", "The order has no lines"


class NothingToOrder(Conflict):
    code, message = "nothing_to_order", "Nothing is below its reorder level"


class ReceiptLineUnknown(ValidationFailed):
    code, message = (
        "receipt_line_unknown",
        "What arrived matches no single line of the order; name the line",
    )


class OverReceiveReasonRequired(ValidationFailed):
    code, message = (
        "over_receive_reason_required",
        "This receipt takes the line past what was ordered; give a reason",
    )


class CloseReasonRequired(ValidationFailed):
    code, message = (
        "reason_required",
        "Say why the rest of the order will not come (kept in its history)",
    )


class ReceiptInvalid(ValidationFailed):
    code, message = "receipt_invalid", "The receipt is not valid"


class OrderVersionMismatch(PreconditionFailed):
    code, message = (
        "version_mismatch",
        "The order has changed since you read it; nothing was changed",
    )
