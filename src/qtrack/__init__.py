"""qtrack: a self-hosted traceability server for things that carry a QR code."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qtrack")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
