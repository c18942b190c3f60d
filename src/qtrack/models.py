"""Every domain's tables in one MetaData, for Alembic and for the model/migration check.

This is the one module outside app.py and cli.py that imports across all domains; it holds
no tables of its own.
"""

from qtrack.accounts import models as accounts_models
from qtrack.core.orm import Base

metadata = Base.metadata

__all__ = ["accounts_models", "metadata"]
