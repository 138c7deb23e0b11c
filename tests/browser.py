"""Debian's Chromium, headless, as the browser tests and benchmarks drive it.

Playwright's own browser builds are downloaded at install time, which this
project's machines cannot do: the system Chromium is used instead, with the
flags that keep it off the (closed) network.
"""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def available() -> bool:
    return os.path.exists(CHROMIUM)


def launch(playwright):
    """A headless Chromium browser from a started `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def running_browser():
    """Yields one launched browser (for a module-scoped fixture); skips when Chromium is missing."""
    from playwright.sync_api import sync_playwright

    from tests.needs import need

    need(available(), f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
