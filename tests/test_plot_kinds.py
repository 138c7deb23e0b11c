"""`plot` shows every kind it draws, in the tab's colours, routine ones as ticks (issue 18).

A real fit with a checkpoint every epoch, a user's callback marking every
epoch (a routine kind of its own) and once more with another kind, and
ReduceLROnPlateau; the matplotlib figure itself is inspected: the legend of
kinds against the markers drawn in every panel, the colours of kinds against
the metric lines', and the height of each kind's lines.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_callbacks_plugin import read_events  # noqa: E402
from tb_callbacks_plugin.cli import kind_styles  # noqa: E402
from tests.test_cli_fits import _figure as plot_figure  # noqa: E402

EPOCHS = 12
COLORS_TS = Path(__file__).resolve().parent.parent / "frontend" / "src" / "colors.ts"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    import keras
    import numpy as np

    from tb_callbacks_plugin import callbacks

    root = tmp_path_factory.mktemp("plot_kinds")

    class Marks(callbacks.Callback):
        """A user's callback: a mark every epoch, and one note."""

        def on_epoch_end(self, epoch, logs=None):
            self.log_event("epoch_mark", f"epoch {epoch + 1} done")
            if epoch == 3:
                self.log_event("note", "halfway there")

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=EPOCHS,
        batch_size=16,
        verbose=0,
        callbacks=[
            callbacks.ModelCheckpoint(str(root / "model.keras")),
            callbacks.ReduceLROnPlateau(patience=0, min_delta=10, factor=0.5),
            Marks(),
            callbacks.TensorBoard(str(root / "run")),
        ],
    )
    return root / "run"


def _rgb(color) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return tuple(round(c, 3) for c in to_rgb(color))


def test_legend_colours_and_ticks(logdir, tmp_path, monkeypatch):
    fig = plot_figure(str(logdir), tmp_path, monkeypatch, "--no-progress")
    events = read_events(str(logdir))
    kinds = {e.kind for e in events}
    # A checkpoint, a mark and (from epoch 1) a halving every epoch: routine, as the tab has it.
    routine = {"checkpoint_saved", "epoch_mark", "lr_change"}
    assert kind_styles.routine_kinds(events) == routine
    assert {"train_begin", "train_end", "checkpoint_saved", "epoch_mark", "note", "lr_change"} <= kinds
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2  # epoch_loss and epoch_learning_rate
    drawn: set[str] = set()
    for ax in panels:
        markers = {
            ln.get_label()[len("_event_") :]: ln
            for ln in ax.get_lines()
            if ln.get_label().startswith("_event_")
        }
        lines = {
            c.get_label()[len("_line_") :]: c for c in ax.collections if c.get_label().startswith("_line_")
        }
        assert set(markers) == set(lines) == kinds
        drawn |= set(markers)
        metric_colours = {_rgb(ln.get_color()) for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        assert len(metric_colours) == 1  # train and validation: one colour, solid and dashed
        for kind, coll in lines.items():
            colour = _rgb(coll.get_colors()[0])
            assert colour == _rgb(kind_styles.kind_color(kind)) == _rgb(markers[kind].get_color())
            assert colour not in metric_colours, f"{kind} is drawn in a metric line's colour"
            heights = {round(float(seg[1][1] - seg[0][1]), 3) for seg in coll.get_segments()}
            # Routine kinds: short ticks; the rest the panel's height.
            if kind in routine:
                assert max(heights) <= 0.1, kind
            else:
                assert heights == {1.0}, kind
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    # Every kind drawn, once, in the tab's order: built-in kinds first, then users' by name.
    assert texts == kind_styles.kind_order(drawn)
    assert texts[:2] == ["train_begin", "train_end"] and texts[-2:] == ["epoch_mark", "note"]
    for text, handle in zip(texts, legend.legend_handles, strict=True):
        assert _rgb(handle.get_color()) == _rgb(kind_styles.kind_color(text))
        # A routine kind's entry is its glyph alone (it is drawn as a tick), the others a line too.
        assert (handle.get_linestyle() == "None") == (text in routine), text
    # Lines differ from kind colours: train_end is no longer the validation line's colour.
    assert _rgb(kind_styles.kind_color("train_end")) != _rgb(kind_styles.LINE_COLOR)


def test_kind_colours_are_the_tabs():
    """The table in kind_styles.py is the one in frontend/src/colors.ts (light theme)."""
    source = COLORS_TS.read_text()
    builtin = dict(re.findall(r'^\s+(\w+): \{ shape: "[\w-]+", light: "(#[0-9a-f]{6})"', source, re.M))
    assert builtin == kind_styles.BUILTIN_COLORS
    users = source[source.index("const USER_COLORS") :]
    users = users[: users.index("];")]
    assert tuple(re.findall(r'\["(#[0-9a-f]{6})", "#[0-9a-f]{6}"\]', users)) == kind_styles.USER_COLORS


def test_routine_kinds_rule():
    from tb_callbacks_plugin.event_format import Event

    def events(kind: str, n: int, run: str = "a/train") -> list[Event]:
        return [Event(run, kind, i, i, float(i), None, "") for i in range(n)]

    many = events("milestone", 10) + events("train_end", 12) + events("early_stop", 12)
    assert kind_styles.routine_kinds(many + events("checkpoint_saved", 1)) == {
        "milestone",
        "checkpoint_saved",
    }
    # Ten per run that has it: nine in each of two runs is not routine.
    assert kind_styles.routine_kinds(events("x", 9) + events("x", 9, "b/train") + events("y", 1)) == set()
    # Nothing but routine kinds: they are what there is to see.
    assert kind_styles.routine_kinds(events("checkpoint_saved", 30)) == set()
