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
    left alone. With `--load_fast=false` the plugin reads its events from
    the files itself and TensorBoard keeps one per tag (`FILES_SAMPLES`).

    Example:

    ```python
    # setup.py
    entry_points={"tensorboard_plugins": [
        "callback_events = tb_callbacks_plugin.server.loader:CallbackEventsLoader",
    ]}
    ```
    """

    # Whether fix_flags set our plugin's sampling (the user did not).
    _sampling_ours = False

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
        if metadata.PLUGIN_NAME not in samples:
            self._sampling_ours = True
            samples[metadata.PLUGIN_NAME] = FILES_SAMPLES if _python_loader_on_local_files(flags) else 0
        flags.samples_per_plugin = samples

    def load(self, context: base_plugin.TBContext) -> Any:
        from tensorboard.backend.event_processing import data_provider

        from tb_callbacks_plugin.server.plugin import CallbackEventsPlugin

        # TensorBoard's Python loader: the plugin reads its events from the
        # files (logdir_store), unless the user chose how many TensorBoard keeps.
        multiplexer = isinstance(context.data_provider, data_provider.MultiplexerDataProvider)
        read_logdir = self._sampling_ours and multiplexer and _is_local(context.logdir)
        return CallbackEventsPlugin(context, read_logdir=read_logdir)


# Records per tag of ours TensorBoard's Python loader keeps when the plugin
# reads the files itself: one, so that TensorBoard still lists our tags
# (the tab's activity) without holding every event a second time.
FILES_SAMPLES = 1


def _is_local(logdir: str | None) -> bool:
    return bool(logdir) and "://" not in str(logdir)


def _python_loader_on_local_files(flags: argparse.Namespace) -> bool:
    """True when TensorBoard will load a local `--logdir` with its Python loader:
    `--load_fast=false` (`auto` picks the Rust data server where it can, and
    sampling must be decided before it does; there events are kept)."""
    return (
        getattr(flags, "load_fast", None) == "false"
        and not getattr(flags, "grpc_data_provider", "")
        and _is_local(getattr(flags, "logdir", None))
    )
