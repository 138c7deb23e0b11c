"""The entry point TensorBoard finds through `tensorboard_plugins`.

Kept apart from `plugin` so that TensorBoard can import it cheaply at
startup; the plugin itself is imported only when it is loaded.
"""

from __future__ import annotations

import argparse
from typing import Any

from tensorboard.plugins import base_plugin

from tb_callbacks_plugin import metadata


class CallbackEventsLoader(base_plugin.TBLoader):
    """Loads the Callback Events plugin and makes TensorBoard keep every event.

    Without a `--samples_per_plugin` entry, TensorBoard keeps 10 records per
    tag of a third-party plugin with `--load_fast=false` and 100 with the Rust
    data server. `fix_flags` runs before either loader is built, so setting
    our default there (0: keep all) reaches both; a value the user gave is
    left alone.

    Example:

    ```python
    # setup.py
    entry_points={"tensorboard_plugins": [
        "callback_events = tb_callbacks_plugin.server.loader:CallbackEventsLoader",
    ]}
    ```
    """

    def fix_flags(self, flags: argparse.Namespace) -> None:
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None or samples == "":
            samples = {}
        elif isinstance(samples, str):
            # `TensorBoard.configure(samples_per_plugin="a=1")` bypasses the
            # flag parser; parse the same `name=count,...` form it accepts.
            try:
                samples = {
                    name.strip(): int(count)
                    for name, count in (token.split("=") for token in samples.split(",") if token.strip())
                }
            except ValueError as e:
                raise base_plugin.FlagsError(f"--samples_per_plugin: cannot parse {samples!r}") from e
        if not isinstance(samples, dict):
            return  # something we do not understand: leave TensorBoard's own handling alone
        samples.setdefault(metadata.PLUGIN_NAME, 0)
        flags.samples_per_plugin = samples

    def load(self, context: base_plugin.TBContext) -> Any:
        from tb_callbacks_plugin.server.plugin import CallbackEventsPlugin

        return CallbackEventsPlugin(context)
