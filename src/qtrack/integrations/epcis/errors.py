"""EPCIS errors: a bad query or document is a 400 that says where it is wrong."""

from qtrack.core.errors import BadRequest, PayloadTooLarge


class QueryInvalid(BadRequest):
    code, message = "epcis_query_invalid", "The EPCIS query is not valid"


class DocumentInvalid(BadRequest):
    code, message = (
        "epcis_document_invalid",
        "The EPCIS document is not valid; nothing was recorded",
    )


class CaptureTooLarge(PayloadTooLarge):
    code, message = (
        "epcis_capture_limit",
        "The document holds more events, or names more identifiers, than one capture takes",
    )
