"""The shipment tests' people serve here too."""

from tests.shipments.conftest import team

__all__ = ["team"]
