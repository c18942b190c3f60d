"""What an import refuses with, besides the table reader's own (`core.tabular`)."""

from qtrack.core.errors import Conflict, NotFound, PayloadTooLarge


class ImportNotFound(NotFound):
    code, message = "import_not_found", "There is no such import"


class ImportTooLarge(PayloadTooLarge):
    code, message = "import_too_large", "The file is larger than imports may be"


class ImportNotRunnable(Conflict):
    code, message = "import_not_runnable", "This import cannot be run now"
