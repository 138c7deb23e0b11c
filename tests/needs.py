"""A check whose tool is missing: skipped on a developer's machine, failed on CI.

A skipped check is easy to miss: a CI machine without Node or Chromium would
pass the suite having run neither the bundle test nor the browser tests.
Under `CI=true` (which `.ci/run` sets, as most CI services do), a missing
tool fails the test instead.
"""

from __future__ import annotations

import os

import pytest


def on_ci() -> bool:
    """True when the environment says this is a CI run (`CI=true` or `CI=1`)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def need(available: bool, what: str) -> None:
    """Goes on when `available`; else skips the test, or fails it on CI.

    Args:
      available: whether the tool the test needs is there.
      what: the sentence saying what is missing and how to get it.
    """
    if available:
        return
    if on_ci():
        pytest.fail(f"{what} (CI=true: a missing tool fails instead of skipping)", pytrace=False)
    pytest.skip(what)
