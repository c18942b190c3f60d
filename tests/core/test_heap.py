"""The started app's heap kept out of the collector's walks, and given back when it stops."""

import gc

from qtrack.config import Settings
from qtrack.core import heap
from tests.conftest import start_app


def test_settled_freezes_and_gives_back() -> None:
    thresholds = gc.get_threshold()
    kept: list[object] = []  # a container: tracked by the collector
    assert any(o is kept for o in gc.get_objects())
    with heap.settled():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= heap.YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == thresholds[1:]
        assert not any(o is kept for o in gc.get_objects())  # frozen: no collection sees it
    assert any(o is kept for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_settled_gives_back_when_the_app_fails() -> None:
    thresholds = gc.get_threshold()
    try:
        with heap.settled():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


async def test_a_started_app_is_settled_until_it_stops(settings: Settings) -> None:
    thresholds = gc.get_threshold()
    _, lifespan = await start_app(settings)
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= heap.YOUNG_THRESHOLD
    finally:
        await lifespan.__aexit__(None, None, None)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
