"""The garbage collector's view of a serving process.

A worker starts with about 290,000 objects (the app, its routes and models, SQLAlchemy's
mappers, the libraries) and keeps nearly all of them for its whole life. CPython's full
collection walks every one of them: measured under the scan load (`benchmarks/tracking.py`,
2026-12-06), a worker ran 13 full collections in a minute, 1.2 s in all and up to 169 ms each,
every request in flight waiting through it; that was the p99 of 130 to 150 ms against the
reference's 9 ms (docs/benchmarks.md, issue 15, fifth pass).

`settled` moves every object the started app holds to the permanent generation
(`gc.freeze`), which no collection walks; later full collections see only what the worker
made since. It does not collect first: a full collection of a large heap costs tens of
milliseconds (each test starts an app), and a started worker has little garbage to leave
behind (607 objects, measured). The youngest generation is also collected less often (every
`YOUNG_THRESHOLD` allocations instead of 700), so fewer objects of the requests in flight are
caught alive and carried into the older generations. Leaving the context gives the objects
back to the collector and restores the thresholds (an app started and stopped many times in
one process, as in the tests, leaks nothing).
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


@contextmanager
def settled() -> Iterator[None]:
    """While inside: the heap as it is now is frozen, and young objects collected in larger
    batches (see the module's doc)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(YOUNG_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
