"""The workflows qtrack ships: material lots, bags, supplies (see DESIGN.md)."""

from typing import Any

MATERIAL: dict[str, Any] = {
    "initial": "received",
    "states": [
        {"key": "received", "label": "Received", "colour": "#6e7781"},
        {"key": "quarantine", "label": "Quarantine", "colour": "#bf8700"},
        {"key": "under_test", "label": "Under test", "colour": "#0969da"},
        {"key": "released", "label": "Released", "colour": "#1a7f37"},
        {"key": "rejected", "label": "Rejected", "colour": "#cf222e"},
        {"key": "dispensed", "label": "Dispensed", "colour": "#8250df", "terminal": True},
        {"key": "consumed", "label": "Consumed", "colour": "#57606a", "terminal": True},
        {"key": "expired", "label": "Expired", "colour": "#9a6700", "expired": True},
        {"key": "destroyed", "label": "Destroyed", "colour": "#24292f", "terminal": True},
    ],
    "transitions": [
        {"name": "quarantine", "from": ["received"], "to": "quarantine"},
        {
            "name": "start_test",
            "label": "Start testing",
            "from": ["quarantine"],
            "to": "under_test",
        },
        {
            "name": "release",
            "from": ["under_test"],
            "to": "released",
            "permission": "item.release",
            "signature_required": True,
            "signature_meaning": "QA release",
            "distinct_actor": True,
        },
        {
            "name": "reject",
            "from": ["under_test"],
            "to": "rejected",
            "permission": "item.release",
            "reason_required": True,
            "signature_required": True,
            "signature_meaning": "QA rejection",
        },
        {
            "name": "dispense",
            "from": ["released"],
            "to": "dispensed",
            "permission": "item.dispense",
        },
        {"name": "consume", "from": ["released"], "to": "consumed", "permission": "item.dispense"},
        {
            "name": "expire",
            "from": ["quarantine", "under_test", "released"],
            "to": "expired",
            "permission": "item.release",
            "reason_required": True,
        },
        {
            "name": "destroy",
            "from": ["rejected", "expired"],
            "to": "destroyed",
            "permission": "item.release",
            "reason_required": True,
            "signature_required": True,
            "signature_meaning": "Destruction",
        },
    ],
}

BAG: dict[str, Any] = {
    "initial": "open",
    "states": [
        {"key": "open", "label": "Open", "colour": "#0969da"},
        # Closed: what a sealed, dispatched or delivered bag holds stays as it is.
        {"key": "sealed", "label": "Sealed", "colour": "#bf8700", "closed": True},
        {"key": "dispatched", "label": "Dispatched", "colour": "#8250df", "closed": True},
        {
            "key": "delivered",
            "label": "Delivered",
            "colour": "#1a7f37",
            "terminal": True,
            "closed": True,
        },
    ],
    "transitions": [
        {"name": "seal", "from": ["open"], "to": "sealed", "permission": "item.pack"},
        {
            "name": "reopen",
            "from": ["sealed"],
            "to": "open",
            "permission": "item.pack",
            "reason_required": True,
        },
        {
            "name": "dispatch",
            "from": ["sealed"],
            "to": "dispatched",
            "permission": "shipment.manage",
        },
        {
            "name": "deliver",
            "from": ["dispatched"],
            "to": "delivered",
            "permission": "shipment.manage",
        },
    ],
}

SUPPLY: dict[str, Any] = {
    "initial": "in_stock",
    "states": [
        {"key": "in_stock", "label": "In stock", "colour": "#1a7f37"},
        {"key": "low", "label": "Low", "colour": "#bf8700"},
        {"key": "out", "label": "Out", "colour": "#cf222e"},
        {
            "key": "expired",
            "label": "Expired",
            "colour": "#57606a",
            "terminal": True,
            "expired": True,
        },
    ],
    "transitions": [
        {"name": "mark_low", "from": ["in_stock"], "to": "low"},
        {"name": "mark_out", "from": ["in_stock", "low"], "to": "out"},
        {"name": "restock", "from": ["low", "out"], "to": "in_stock"},
        {
            "name": "expire",
            "from": ["in_stock", "low", "out"],
            "to": "expired",
            "reason_required": True,
        },
    ],
}

# key -> (name, definition)
SHIPPED_WORKFLOWS: dict[str, tuple[str, dict[str, Any]]] = {
    "material": ("Material lot", MATERIAL),
    "bag": ("Bag", BAG),
    "supply": ("Supply", SUPPLY),
}

# key -> fields of the shipped item types
SHIPPED_ITEM_TYPES: dict[str, dict[str, Any]] = {
    "material": {
        "name": "Material lot",
        "code_prefix": "MAT",
        "workflow": "material",
        "unit": "kg",
        "tracks_quantity": True,
        "tracks_expiry": True,
        "can_contain": False,
    },
    "bag": {
        "name": "Bag",
        "code_prefix": "BAG",
        "workflow": "bag",
        "unit": "pcs",
        "tracks_quantity": False,
        "tracks_expiry": False,
        "can_contain": True,
    },
    "supply": {
        "name": "Supply",
        "code_prefix": "SUP",
        "workflow": "supply",
        "unit": "pcs",
        "tracks_quantity": True,
        "tracks_expiry": True,
        "can_contain": False,
        "low_stock_threshold": 10,
    },
}
