"""Every module that registers background work, imported for its registrations.

Jobs, schedules and feed consumers are declared by the domains that own them (`@job`,
`schedule(...)`, `@feed.consumer`) when their module is imported. The server, `qtrack
worker` and `qtrack jobs` import this module so that all of them know the same handlers:
a domain that adds a module with handlers adds one line here.
"""

from qtrack.alerts import digest as alerts_digest  # mails new alerts hourly
from qtrack.audit import jobs as audit_jobs  # signs a checkpoint over the chain heads hourly
from qtrack.events import feed as events_feed  # runs the change feed's consumers
from qtrack.events import partitions as events_partitions  # event partitions ahead, daily
from qtrack.expiry import jobs as expiry_jobs  # the daily expiry sweep
from qtrack.imports import jobs as imports_jobs  # runs large imports in the background
from qtrack.integrations.webhooks import alerts as webhooks_alerts  # alert.raised deliveries
from qtrack.integrations.webhooks import consumer as webhooks_consumer  # fan-out and delivery
from qtrack.items import jobs as items_jobs  # checks the keys a first import added NOT VALID
from qtrack.jobs import housekeeping as jobs_housekeeping  # prunes finished jobs daily
from qtrack.jobs import registry
from qtrack.jobs.registry import JobSpec
from qtrack.reports import jobs as reports_jobs  # mails the end-of-day summary daily

__all__ = [
    "alerts_digest",
    "audit_jobs",
    "events_feed",
    "events_partitions",
    "expiry_jobs",
    "imports_jobs",
    "items_jobs",
    "jobs_housekeeping",
    "registered_jobs",
    "reports_jobs",
    "webhooks_alerts",
    "webhooks_consumer",
]


def registered_jobs() -> list[JobSpec]:
    """Every job the modules above registered."""
    return registry.jobs()
