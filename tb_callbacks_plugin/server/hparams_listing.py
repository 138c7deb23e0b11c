"""Each experiment's hyperparameters, as TensorBoard's HParams plugin sees them.

The `hparams` Keras callback (and KerasTuner, which adds it to every trial)
writes `_hparams_/session_start_info`, whose plugin content holds the trial's
hyperparameters. Only the metadata is needed, so one `list_tensors` of the
HParams plugin answers for every run: no tensor is read.

`tb_callbacks_plugin.eventfiles.hparams.read_hparams(logdir)` reads the same
records from files for the CLI; the plugin reads them through the data
provider, as every other route does, and parses the content with
TensorBoard's own parser; values are converted by the same `value_of`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from tensorboard.data import provider
from tensorboard.plugins.hparams import metadata as hparams_metadata

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.eventfiles.hparams import value_of

logger = logging.getLogger(__name__)

Value = float | str | bool | None


def _value(value: Any) -> Value:
    """A `google.protobuf.Value` as JSON (`eventfiles.hparams.value_of`); a
    non-finite number, which JSON cannot hold, as its name."""
    found = value_of(value)
    return str(found) if isinstance(found, float) and not math.isfinite(found) else found


def experiment_hparams(
    data_provider: provider.DataProvider, ctx: Any, *, experiment_id: str
) -> dict[str, dict[str, Value]]:
    """experiment (`conventions.experiment_of` of the run holding the record)
    -> hyperparameter name -> value. A damaged record is skipped (and logged)."""
    listing = data_provider.list_tensors(
        ctx, experiment_id=experiment_id, plugin_name=hparams_metadata.PLUGIN_NAME
    )
    out: dict[str, dict[str, Value]] = {}
    for run in sorted(listing):
        series = listing[run].get(hparams_metadata.SESSION_START_INFO_TAG)
        if series is None:
            continue
        try:
            info = hparams_metadata.parse_session_start_info_plugin_data(series.plugin_content)
        except Exception:  # noqa: BLE001 - a damaged record must not fail the route
            logger.warning("callback_events: unreadable hparams of run %r", run, exc_info=True)
            continue
        values = {name: _value(v) for name, v in sorted(info.hparams.items())}
        out.setdefault(conventions.experiment_of(run), {}).update(values)
    return out
