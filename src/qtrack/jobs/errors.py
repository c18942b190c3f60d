"""What the jobs machinery refuses."""

from qtrack.core.errors import Conflict, NotFound


class UnknownJob(NotFound):
    code, message = "unknown_job", "No job of that name is registered"


class JobNotFound(NotFound):
    code, message = "job_not_found", "There is no job with that id"


class JobNotDead(Conflict):
    code, message = "job_not_dead", "Only a dead job can be retried"


class TwinPending(Conflict):
    code, message = "job_twin_pending", "A job with the same name and dedupe key is pending"
