"""The example in stet.once's docstring runs and prints what it shows."""

from __future__ import annotations

import doctest

import stet
import stet._decorator


def test_the_example_of_once_runs_as_shown() -> None:
    """once()'s docstring example gives the output it shows: a run, then a skip line."""
    result = doctest.testmod(stet._decorator, globs={"stet": stet})
    assert result.attempted >= 5
    assert result.failed == 0
