"""The tab says a fit's points are missing only where TensorBoard left out points it had (issue 18).

The demo's `resumed` story: fit 0 ends in an exception raised at an epoch's
end by a callback placed before TensorBoard, so that epoch's scalars were
never written; fit 1 resumes after it. Nothing is missing from TensorBoard's
answer, on either loader, and the tab must not say so. Beside it, two fresh
models fit into one log_dir: the data server (--load_fast=true) drops the
first fit's points when the second restarts its epochs at 0, and the tab
must say so there (and only there). What is expected is computed, per fit,
from the points on disk (`scalars_dataframe`) against the `scalars` route's
answer; the notes are read from the page in Chromium on a real
`tensorboard`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_callbacks_plugin import read_events, scalars_dataframe  # noqa: E402
from tb_callbacks_plugin.eventfiles import fits  # noqa: E402
from tests.tb_server import tensorboard  # noqa: E402
from tests.test_frontend_stories import _fit, _model, last_fit_loaded, open_filtered  # noqa: E402
from tests.test_lr_line import browser  # noqa: E402, F401 - the module's Chromium

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = ("resumed", "restarted")
TAG = "epoch_loss"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    import keras

    root = tmp_path_factory.mktemp("notes")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "demo" / "train.py"),
            "--logdir",
            str(root),
            "--quick",
            "--only",
            "resumed",
        ],
        check=True,
        capture_output=True,
    )
    keras.utils.set_random_seed(0)
    _fit(_model(), str(root / "restarted"), 3)
    _fit(_model(), str(root / "restarted"), 2)  # a fresh model: its epochs restart at 0
    return root


def test_the_resumed_story_is_the_one_told(logdir):
    """Fit 0 trained five epochs (its train_end says so) but wrote four: the last raised first."""
    events = read_events(str(logdir / "resumed"))
    ends = [e for e in events if e.kind == "train_end"]
    assert [e.data["reason"] for e in ends] == ["interrupted", "completed"]
    trained = ends[0].data["last_epoch"] + 1
    frame = scalars_dataframe(str(logdir), runs=["resumed/train"], tags=[TAG])
    starts = fits.fit_starts(events)
    written = Counter(fits.fit_of(w, starts) for w in frame["wall_time"])
    assert written[0] == trained - 1


def missing_fits(server, logdir: Path, run: str) -> list[int]:
    """Fits of `run` with points on disk that TensorBoard's `scalars` answer lacks."""
    starts = fits.fit_starts(read_events(str(logdir / run.split("/")[0])))
    frame = scalars_dataframe(str(logdir), runs=[run], tags=[TAG])
    on_disk = Counter(fits.fit_of(w, starts) for w in frame["wall_time"])
    answer = server.plugin_json(f"scalars?run={quote(run)}&tag={TAG}")
    answered = Counter(fits.fit_of(w, starts) for w in answer["wall_time"])
    return sorted(f for f in on_disk if answered[f] < on_disk[f])


def noted_fits(notes: str, run: str) -> list[int]:
    """The fits the chart's note names as missing for `run` ([] without a note)."""
    found = re.search(rf"{re.escape(run)}: {TAG} of fits? ([\d, ]+) (?:is|are) missing", notes)
    return [int(f) for f in found.group(1).split(",")] if found else []


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_a_note_only_where_points_are_missing_from_the_answer(logdir, browser, load_fast):  # noqa: F811
    with tensorboard(str(logdir), load_fast=load_fast, start_timeout=180, tensorflow=False) as server:
        server.wait_for(lambda: all(last_fit_loaded(server, exp) for exp in EXPERIMENTS), timeout=300)
        for experiment in EXPERIMENTS:
            tab = open_filtered(browser, server, f"^{experiment}/")
            try:
                notes = tab.ui.locator(f".chart-card[data-tag={TAG}] .chart-notes").inner_text()
                for run in (f"{experiment}/train", f"{experiment}/validation"):
                    missing = missing_fits(server, logdir, run)
                    if experiment == "resumed":
                        assert missing == []  # every point written is answered, on both loaders
                    elif load_fast:
                        assert missing == [0]  # the data server's restart rule
                    assert noted_fits(notes, run) == missing, (run, notes)
                assert tab.errors == []
            finally:
                tab.close()
