"""Test-wide settings. Hypothesis runs the same examples every time, so CI is never flaky;
`pytest --hypothesis-profile=explore` draws new ones. No per-example deadline: machines
differ in speed, and speed is measured by `make bench`, never asserted."""

from hypothesis import settings

settings.register_profile("rawfwd", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("rawfwd")
