"""Allow `python -m qtrack`."""

from qtrack.cli import main

main()
