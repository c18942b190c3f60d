"""The GS1 Core Business Vocabulary (CBV 2.0) terms a workflow may name for EPCIS.

A state may say which CBV disposition an item in it has, and a transition which CBV business
step it is (`epcis_disposition`, `epcis_biz_step`). Each is a bare CBV 2.0 term, or a URI of
the organisation's own vocabulary; anything else would make qtrack's EPCIS documents invalid,
so a workflow naming it is refused. The lists are the enumerations of GS1's EPCIS 2.0 JSON
schema (a test keeps them equal).
"""

import re

BIZ_STEPS: frozenset[str] = frozenset(
    {
        "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
        "creating_class_instance", "cycle_counting", "decommissioning", "departing",
        "destroying", "disassembling", "dispensing", "encoding", "entering_exiting", "holding",
        "inspecting", "installing", "killing", "loading", "other", "packing", "picking",
        "receiving", "removing", "repackaging", "repairing", "replacing", "reserving",
        "retail_selling", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
        "transporting", "unloading", "unpacking", "void_shipping", "sensor_reporting", "sampling",
    }
)  # fmt: skip

DISPOSITIONS: frozenset[str] = frozenset(
    {
        "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
        "expired", "in_progress", "in_transit", "inactive", "no_pedigree_match",
        "non_sellable_other", "partially_dispensed", "recalled", "reserved", "retail_sold",
        "returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unknown",
        "available", "completeness_verified", "completeness_inferred", "conformant",
        "container_open", "mismatch_instance", "mismatch_class", "mismatch_quantity",
        "needs_replacement", "non_conformant", "unavailable",
    }
)  # fmt: skip

# A URI of one's own vocabulary: a scheme, then no spaces. The CBV's own namespaces are not
# "other" vocabularies (the EPCIS schema refuses them there): their terms are written bare.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_CBV_NAMESPACE = re.compile(r"^(urn:epcglobal:cbv|https?://ns\.gs1\.org/cbv/)")
# The CBV 2.0 web URIs of a term (https://ref.gs1.org/cbv/BizStep-receiving) and the URNs of
# CBV 1.x (urn:epcglobal:cbv:bizstep:receiving) name the same terms as the bare words.
_CBV_TERM_URI = re.compile(
    r"^(?:https?://ref\.gs1\.org/cbv/(?:BizStep|Disp)-|urn:epcglobal:cbv:(?:bizstep|disp):)"
    r"([a-z_]+)$"
)


def bare_term(value: str, terms: frozenset[str]) -> str:
    """The bare CBV term a CBV URI stands for, or the value itself."""
    found = _CBV_TERM_URI.match(value)
    return found[1] if found and found[1] in terms else value


def _check(value: str, terms: frozenset[str], noun: str, example: str) -> str:
    value = bare_term(value, terms)
    if value in terms or (_URI.match(value) and not _CBV_NAMESPACE.match(value)):
        return value
    raise ValueError(
        f"'{value}' is not a CBV 2.0 {noun}: give a CBV term (such as {example}) "
        "or a URI of your own vocabulary"
    )


def check_disposition(value: str) -> str:
    """A CBV disposition as a bare term, or a URI of one's own; ValueError otherwise."""
    return _check(value, DISPOSITIONS, "disposition", "available")


def check_biz_step(value: str) -> str:
    """A CBV business step as a bare term, or a URI of one's own; ValueError otherwise."""
    return _check(value, BIZ_STEPS, "business step", "inspecting")


# What a state or transition is in CBV terms when the workflow does not say: the shipped
# workflows' states and transitions (and any workflow's of the same name). Materials follow
# a plant's QA: usable only once released. Bags follow a parcel's journey.
DEFAULT_DISPOSITIONS: dict[str, str] = {
    "received": "in_progress",
    "quarantine": "non_sellable_other",
    "under_test": "non_sellable_other",
    "released": "available",
    "rejected": "non_conformant",
    "dispensed": "dispensed",
    "consumed": "dispensed",
    "expired": "expired",
    "destroyed": "destroyed",
    "open": "container_open",
    "sealed": "container_closed",
    "dispatched": "in_transit",
    "delivered": "in_progress",
    "in_stock": "available",
    "low": "available",
    "out": "unavailable",
}
DEFAULT_BIZ_STEPS: dict[str, str] = {
    "quarantine": "holding",
    "start_test": "inspecting",
    "release": "inspecting",
    "reject": "inspecting",
    "dispense": "dispensing",
    "consume": "dispensing",
    "expire": "holding",
    "destroy": "destroying",
    "seal": "packing",
    "dispatch": "shipping",
    "deliver": "receiving",
    "mark_low": "cycle_counting",
    "mark_out": "cycle_counting",
    "restock": "stocking",
}
OTHER_BIZ_STEP = "other"  # CBV's own word for a step none of its terms names


def disposition_of(state_key: str, configured: str | None) -> str | None:
    """The CBV disposition of an item in a state: the workflow's, else the default (if any)."""
    return configured or DEFAULT_DISPOSITIONS.get(state_key)


def biz_step_of(transition_name: str, configured: str | None) -> str:
    """The CBV business step a transition is: the workflow's, else the default, else other."""
    return configured or DEFAULT_BIZ_STEPS.get(transition_name, OTHER_BIZ_STEP)
