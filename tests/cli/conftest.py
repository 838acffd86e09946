"""The bad-input suite's tally: every case adds to it, the terminal summary prints it.

``inputs tried / clear errors (or documented behaviour) / tracebacks / silent (exit 0 where an
error was due) / data lost (a protected folder changed)``.
"""

from __future__ import annotations

from collections import Counter

import pytest

TALLY_KEY = pytest.StashKey[Counter]()
OUTCOMES = ("tried", "clear", "tracebacks", "silent", "data lost")


@pytest.fixture(scope="session")
def tally(pytestconfig) -> Counter:
    """The session's counts of bad-input outcomes (keys: :data:`OUTCOMES`)."""
    if TALLY_KEY not in pytestconfig.stash:
        pytestconfig.stash[TALLY_KEY] = Counter()
    return pytestconfig.stash[TALLY_KEY]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts = config.stash.get(TALLY_KEY, None)
    if counts:
        terminalreporter.write_sep("-", "bad-input tally")
        terminalreporter.write_line(" / ".join(f"{k} {counts[k]}" for k in OUTCOMES))
