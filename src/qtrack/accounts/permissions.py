"""The permissions qtrack knows, and the roles it ships.

Permissions are fixed names in code; a role is a set of them. Admins can define more roles
from these permissions, but not new permissions.
"""

from enum import StrEnum


class Permission(StrEnum):
    """Everything a route can require."""

    ITEM_READ = "item.read"
    ITEM_CREATE = "item.create"
    ITEM_EDIT = "item.edit"
    ITEM_TRANSITION = "item.transition"
    ITEM_MOVE = "item.move"
    ITEM_PACK = "item.pack"
    ITEM_QUANTITY = "item.quantity"
    ITEM_RELEASE = "item.release"
    ITEM_DISPENSE = "item.dispense"
    ITEM_ARCHIVE = "item.archive"
    LOCATION_MANAGE = "location.manage"
    LABEL_PRINT = "label.print"
    SHIPMENT_MANAGE = "shipment.manage"
    SHIPMENT_READ = "shipment.read"
    SHIPMENT_CREATE = "shipment.create"
    SHIPMENT_ISSUE = "shipment.issue"
    SHIPMENT_DISPATCH = "shipment.dispatch"
    SHIPMENT_CANCEL = "shipment.cancel"
    REPORT_READ = "report.read"
    ORDER_MANAGE = "order.manage"
    ORDER_READ = "order.read"
    ORDER_CREATE = "order.create"
    ORDER_SUBMIT = "order.submit"
    ORDER_APPROVE = "order.approve"
    ORDER_RECEIVE = "order.receive"
    ORDER_CANCEL = "order.cancel"
    EVENT_READ = "event.read"
    EPCIS_CAPTURE = "epcis.capture"
    AUDIT_VERIFY = "audit.verify"
    ADMIN_USERS = "admin.users"
    ADMIN_CONFIG = "admin.config"
    WEBHOOKS_MANAGE = "webhooks.manage"
    STOCK_READ = "stock.read"
    STOCK_MANAGE = "stock.manage"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)
# The permissions a workflow's transitions may ask for: a route that changes a state asks for
# any of them, and the use case checks the one the transition names.
STATUS_CHANGES: tuple[str, ...] = (
    Permission.ITEM_TRANSITION,
    Permission.ITEM_RELEASE,
    Permission.ITEM_DISPENSE,
    Permission.ITEM_PACK,
    Permission.SHIPMENT_MANAGE,
)

_READ = {Permission.ITEM_READ, Permission.EVENT_READ, Permission.STOCK_READ}
_FLOOR = {
    Permission.ITEM_CREATE,
    Permission.ITEM_TRANSITION,
    Permission.ITEM_MOVE,
    Permission.ITEM_PACK,
    Permission.ITEM_QUANTITY,
    Permission.ITEM_DISPENSE,
    Permission.LABEL_PRINT,
}
# Building a bill: reading shipments and adding containers to a draft.
_SHIPPING = {Permission.SHIPMENT_READ, Permission.SHIPMENT_CREATE}
# Restocking on the floor: drafting orders, sending them for approval, receiving the goods.
_RESTOCK = {
    Permission.ORDER_READ,
    Permission.ORDER_CREATE,
    Permission.ORDER_SUBMIT,
    Permission.ORDER_RECEIVE,
}

# key -> (name, description, permissions). Migrations seed these; a test keeps them equal.
BUILTIN_ROLES: dict[str, tuple[str, str, frozenset[str]]] = {
    "admin": ("Administrator", "Everything, including users and configuration", ALL_PERMISSIONS),
    "supervisor": (
        "Supervisor (QA)",
        "Releases and rejects lots, edits and archives items, verifies the audit trail",
        frozenset(
            _READ
            | _FLOOR
            | {
                Permission.ITEM_EDIT,
                Permission.ITEM_RELEASE,
                Permission.ITEM_ARCHIVE,
                Permission.LOCATION_MANAGE,
                Permission.AUDIT_VERIFY,
                Permission.ORDER_MANAGE,
                Permission.STOCK_MANAGE,
                Permission.ALERT_ACKNOWLEDGE,
                Permission.ORDER_APPROVE,
                Permission.ORDER_CANCEL,
            }
            | _RESTOCK
            | _SHIPPING
            | {
                Permission.SHIPMENT_MANAGE,
                Permission.SHIPMENT_ISSUE,
                Permission.SHIPMENT_DISPATCH,
                Permission.SHIPMENT_CANCEL,
                Permission.REPORT_READ,
            }
        ),
    ),
    "operator": (
        "Operator",
        "Scans, registers, moves, packs and dispenses",
        frozenset(_READ | _FLOOR | _RESTOCK | {Permission.ALERT_ACKNOWLEDGE}),
    ),
    "dispatcher": (
        "Dispatcher",
        "Packs containers and builds shipments",
        frozenset(
            _READ
            | {
                Permission.ITEM_MOVE,
                Permission.ITEM_PACK,
                Permission.LABEL_PRINT,
                Permission.SHIPMENT_MANAGE,
                Permission.SHIPMENT_DISPATCH,
            }
            | _SHIPPING
        ),
    ),
    "biller": (
        "Biller",
        "Builds shipments from sealed containers, issues and prints the bills",
        frozenset(
            _READ
            | _SHIPPING
            | {Permission.SHIPMENT_ISSUE, Permission.LABEL_PRINT, Permission.SHIPMENT_MANAGE}
        ),
    ),
    "viewer": ("Viewer", "Reads items and their history; changes nothing", frozenset(_READ)),
}

ADMIN_ROLE = "admin"
