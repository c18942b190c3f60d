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


class NotAContainer(Conflict):
    code, message = "not_a_container", "Items of this type cannot hold other items"


class ContainerCycle(Conflict):
    code, message = (
        "container_cycle",
        "An item cannot be packed into itself or into its own contents",
    )


class VersionMismatch(PreconditionFailed):
    code, message = (
        "version_mismatch",
        "The item has changed since you read it; nothing was changed",
    )


class IfMatchRequired(QtrackError):
    status_code, code, message = 428, "if_match_required", "Send If-Match with the item's ETag"
