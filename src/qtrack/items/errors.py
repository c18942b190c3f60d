"""Errors the item use cases raise, each with its status and stable code."""

from qtrack.core.errors import Conflict, NotFound, PreconditionFailed, QtrackError, ValidationFailed


class ItemNotFound(NotFound):
    code, message = "item_not_found", "No such item"


class ItemArchived(Conflict):
    code, message = "item_archived", "The item is archived; it cannot change"


class TransitionNotAllowed(Conflict):
    code, message = (
        "transition_not_allowed",
        "The workflow does not allow this from the current state",
    )


class ReasonRequired(ValidationFailed):
    code, message = "reason_required", "This change needs a reason"


class SignatureRequired(ValidationFailed):
    code, message = "signature_required", "This change needs an e-signature: re-enter your password"


class SamePerson(Conflict):
    code, message = "same_person", "The same person may not make this step as the previous one"


class QuantityNotTracked(Conflict):
    code, message = "quantity_not_tracked", "This item type does not track quantity"


class InsufficientQuantity(Conflict):
    code, message = "insufficient_quantity", "Not enough quantity: it may not go below zero"


class ItemExpired(Conflict):
    """Past its expiry date, or in its workflow's expired state: it may not be dispensed,
    consumed or shipped. The message names the date."""

    code, message = "item_expired", "The item has expired; it cannot be used"


class ContainerClosed(Conflict):
    """The container's state is closed (e.g. a sealed or dispatched bag): nothing goes in or
    comes out. Raised here, not in `containers`: a move takes an item out of its container."""

    code, message = (
        "container_closed",
        "The container is closed in its current state: nothing may be packed into it or taken out",
    )


class Busy(Conflict):
    code, message = "busy", "Others were changing the same items; try again"


class VersionMismatch(PreconditionFailed):
    code, message = (
        "version_mismatch",
        "The item has changed since you read it; nothing was changed",
    )


class IfMatchRequired(QtrackError):
    status_code, code, message = 428, "if_match_required", "Send If-Match with the item's ETag"
