"""What the CLI prints for people says the epochs Keras's console says.

A real fit with `EarlyStopping(verbose=1, restore_best_weights=True)`: Keras
prints "Epoch N: early stopping" and "... the best epoch: B." (1-based). The
`summary` table (AT EPOCH, ENDED) and the `events` table (EPOCH) must say N
and B; the machine formats keep the 0-based fields (N - 1, B - 1).
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests import keras_helpers as kh
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory):
    """(logdir, N, B): a fit EarlyStopping ended at console epoch N, restoring console epoch B."""
    import contextlib

    from tb_callbacks_plugin import callbacks

    logdir = str(tmp_path_factory.mktemp("console") / "logs")
    kh.seed(0)
    model = kh.classifier(lr=0.05)
    console = io.StringIO()
    with contextlib.redirect_stdout(console):  # where Keras's io_utils.print_msg writes
        kh.fit(
            model,
            [
                callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1),
                callbacks.TensorBoard(log_dir=f"{logdir}/run"),
            ],
            epochs=60,
        )
    text = console.getvalue()
    stopped = re.search(r"Epoch (\d+): early stopping", text)
    best = re.search(r"the best epoch: (\d+)", text)
    assert stopped and best, text  # the fit must stop early for this test to mean anything
    return logdir, int(stopped.group(1)), int(best.group(1))


def _table(out: str) -> list[dict[str, str]]:
    """The rows of a table the CLI printed (cells are two or more spaces apart; none empty here)."""
    header, *lines = (re.split(r"\s{2,}", line.strip()) for line in out.splitlines())
    return [dict(zip(header, line, strict=True)) for line in lines]


def test_summary_table_says_the_consoles_epochs(early_stopped, capsys):
    logdir, stopped, best = early_stopped
    code, out, err = run_cli(capsys, "summary", logdir)
    assert code == 0, err
    (row,) = _table(out)
    assert row["ENDED"] == f"early_stop at epoch {stopped}, restored epoch {best}"
    # The best val_loss is where EarlyStopping found it (min_delta 0: the first of equal values).
    assert row["AT EPOCH"] == str(best)
    code, out, _ = run_cli(capsys, "summary", logdir, "--format", "json")
    (line,) = json.loads(out)
    assert line["best_epoch"] == best - 1  # the field: 0-based, as epoch_* scalars' steps


def test_events_table_says_the_consoles_epochs(early_stopped, capsys):
    logdir, stopped, best = early_stopped
    code, out, err = run_cli(capsys, "events", logdir, "--kind", "early_stop", "--max-width", "0")
    assert code == 0, err
    (row,) = _table(out)
    assert row["EPOCH"] == str(stopped)
    assert f"stopped at epoch {stopped}" in row["MESSAGE"]  # the event's own message agrees
    code, out, _ = run_cli(capsys, "events", logdir, "--kind", "weights_restored", "--format", "jsonl")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["data"]["best_epoch"] == best - 1
    code, out, _ = run_cli(capsys, "events", logdir, "--kind", "early_stop", "--format", "json")
    (event,) = json.loads(out)
    assert event["epoch"] == stopped - 1
    code, out, _ = run_cli(capsys, "events", logdir, "--kind", "early_stop", "--format", "csv")
    (event,) = csv.DictReader(io.StringIO(out))
    assert event["epoch"] == str(stopped - 1)
