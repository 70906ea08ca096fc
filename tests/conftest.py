"""Test-wide settings: fixed hypothesis examples, no deadlines, and the rawfwd log collector.

Hypothesis runs the same examples every time, so CI is never flaky;
`pytest --hypothesis-profile=explore` draws new ones. No per-example deadline: machines
differ in speed, and speed is measured by `make bench`, never asserted.
"""

import logging
from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("rawfwd", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("rawfwd")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """What the "rawfwd" logger says (it may not propagate: the CLI sets it up so)."""
    logger = logging.getLogger("rawfwd")
    handler = _Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.seen
    logger.removeHandler(handler)
    logger.setLevel(level)
