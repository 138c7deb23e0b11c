"""The tab tells the true story of repeated fits, endings, NaN, learning-rate
steps and many runs (issue 14), in real Chromium against a real `tensorboard`
on both loaders, on logdirs written by real `model.fit` runs.

What is checked is what the page draws or says: legend entries and their x
ranges, notes on the charts, canvas pixels at an event's x (the glyph on
top, the line's height either side of an LR change), the kinds listed. The
expected values come from the plugin's routes and the events, never from
numbers written here. Screenshots land in `test-output/frontend/stories-*`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.browser import CHROMIUM, available, launch  # noqa: E402
from tests.needs import need  # noqa: E402
from tests.tb_server import tensorboard  # noqa: E402
from tests.test_frontend import Tab  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True, scope="module")
def _chromium():
    # Skipped on a developer's machine without Chromium, failed on CI.
    need(available(), f"{CHROMIUM} is missing (apt-get install chromium)")


SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "frontend"
# Kind colours of the light theme (frontend/src/colors.ts).
EARLY_STOP = (0xC6, 0x28, 0x28)
NAN_TERMINATED = (0xAD, 0x14, 0x57)
TRAIN_END = (0x54, 0x6E, 0x7A)
MANY = 20
MANY_EPOCHS = 3


# ---------------------------------------------------------------- logdirs


def _data(n: int = 256, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _model(lr: float = 0.01):
    import keras

    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(lr), "mse")
    return model


def _fit(model, log_dir: str, epochs: int, extra=()) -> None:
    from tb_callbacks_plugin import callbacks

    x, y = _data()
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[*extra, callbacks.TensorBoard(log_dir)],
    )


def write_stories(root: Path) -> None:
    import keras

    from tb_callbacks_plugin import callbacks

    keras.utils.set_random_seed(0)
    notebook = str(root / "notebook")
    first = _model()
    _fit(first, notebook, 4)
    # The same model again (its steps continue), with the rate halved from epoch 2 on.
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch == 2 else lr)
    _fit(first, notebook, 4, [halve])
    _fit(_model(), notebook, 3)  # a fresh model: steps restart at 0

    # Stopped early: no improvement by 10 is ever good enough.
    _fit(
        _model(),
        str(root / "stopped"),
        10,
        [callbacks.EarlyStopping(monitor="val_loss", min_delta=10, patience=1)],
    )

    class Blowup(keras.callbacks.Callback):
        """After the first epoch the learning rate explodes: the loss goes to Inf/NaN."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.optimizer.learning_rate.assign(1e12)

    _fit(_model(), str(root / "diverged"), 5, [Blowup(), callbacks.TerminateOnNaN()])


def write_many(root: Path) -> None:
    from tb_callbacks_plugin import callbacks

    for i in range(MANY):
        _fit(
            _model(0.005 * (1 + i % 4)),
            str(root / f"exp{i:02d}"),
            MANY_EPOCHS,
            [callbacks.ModelCheckpoint(str(root / f"exp{i:02d}.keras"))],
        )


@pytest.fixture(scope="module")
def stories(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stories")
    write_stories(root)
    return root


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast", "python_loader"])
def tb(request, stories):
    with tensorboard(str(stories), load_fast=request.param) as server:
        server.load_fast = request.param
        server.wait_for(lambda: {"notebook/train", "stopped/train", "diverged/train"} <= runs_of(server))
        # TensorBoard reads event files in the background: wait until it
        # holds every fit's last metric point (a fit's files are its own).
        server.wait_for(
            lambda: all(last_fit_loaded(server, exp) for exp in ("notebook", "stopped", "diverged")),
            timeout=180,
        )
        yield server


def last_fit_loaded(server, experiment: str) -> bool:
    """Whether TensorBoard serves the last fit's epoch_loss: every epoch of it
    in the train run (Keras logs one per epoch trained), some in validation."""
    events = events_of(server, f"{experiment}/train")
    begins = [e for e in events if e["kind"] == "train_begin"]
    begin = max(begins, key=lambda e: e["wall_time"])
    ends = [e for e in events if e["kind"] == "train_end" and e["wall_time"] > begin["wall_time"]]
    assert ends, f"{experiment}: no train_end of the last fit served"
    epochs = ends[0]["data"]["last_epoch"] - begin["data"]["initial_epoch"] + 1
    for run, wanted in ((f"{experiment}/train", epochs), (f"{experiment}/validation", 1)):
        try:
            series = server.plugin_json(f"scalars?run={quote(run)}&tag=epoch_loss")
        except Exception:  # noqa: BLE001 - the run or tag is not listed yet
            return False
        got = sum(w > begin["wall_time"] for w in series["wall_time"])
        # Raised, not returned: wait_for reports the last of these if it times out.
        assert got >= wanted, f"{run}: {got} of the last fit's {wanted} epoch_loss points served"
    return True


def runs_of(server) -> set[str]:
    return {r["run"] for r in server.plugin_json("runs")["runs"]}


def events_of(server, run: str) -> list[dict]:
    return server.plugin_json(f"events?run={quote(run)}")["events"]


# ---------------------------------------------------------------- page helpers


def open_filtered(browser, server, pattern: str) -> Tab:
    tab = Tab(browser, server.base)
    tab.wait_ready()
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill(pattern)
    tab.wait_ready()
    tab.next_frame()
    return tab


def legend(tab: Tab, tag: str) -> dict[str, dict]:
    items = tab.ui.locator(f".chart-card[data-tag={tag}] .legend-item")
    out = {}
    for i in range(items.count()):
        item = items.nth(i)
        out[item.locator(".legend-run").inner_text()] = {
            "x0": float(item.get_attribute("data-x0")),
            "x1": float(item.get_attribute("data-x1")),
            "bad": int(item.get_attribute("data-bad")),
            "value": item.locator(".legend-value").inner_text(),
        }
    return out


def chart_pixels(tab: Tab, tag: str) -> dict:
    """The chart's canvas as RGBA rows, with the plot area's box and x scale (device px)."""
    tab.next_frame()
    return tab.frame.evaluate(
        """(tag) => {
          const card = document.querySelector(`.chart-card[data-tag="${tag}"]`);
          const canvas = card.querySelector('canvas');
          const over = card.querySelector('.u-over').getBoundingClientRect();
          const box = canvas.getBoundingClientRect();
          const pr = canvas.width / box.width;
          const [min, max] = card.dataset.xScale.split(',').map(Number);
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          return {width: canvas.width, height: canvas.height, pixels: Array.from(data), pr,
                  left: (over.left - box.left) * pr, top: (over.top - box.top) * pr,
                  plotWidth: over.width * pr, plotHeight: over.height * pr, min, max};
        }""",
        tag,
    )


def px_of(img: dict, x: float) -> int:
    return round(img["left"] + (x - img["min"]) / (img["max"] - img["min"]) * img["plotWidth"])


def near_colour(img: dict, colour, xs: range, ys: range, tolerance: int = 40) -> int:
    count = 0
    for y in ys:
        for x in xs:
            i = (y * img["width"] + x) * 4
            r, g, b = img["pixels"][i : i + 3]
            if abs(r - colour[0]) + abs(g - colour[1]) + abs(b - colour[2]) <= tolerance:
                count += 1
    return count


def swatch_rgb(style: str) -> tuple[int, int, int]:
    """The colour a legend swatch shows (`--swatch:#rrggbb[aa]`), on the white page."""
    hexa = style.split("#")[1][:8]
    rgb = [int(hexa[i : i + 2], 16) for i in (0, 2, 4)]
    alpha = int(hexa[6:8], 16) / 255 if len(hexa) == 8 else 1.0
    return tuple(round(c * alpha + 255 * (1 - alpha)) for c in rgb)


def shot(tab: Tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SHOTS / f"stories-{name}.png"), full_page=True)


def fit_epoch_ends(events: list[dict]) -> list[list[int]]:
    """Per fit, the global step at which each of its epochs ended (train_begin's step + k * steps)."""
    out = []
    begins = sorted((e for e in events if e["kind"] == "train_begin"), key=lambda e: e["wall_time"])
    ends = sorted((e for e in events if e["kind"] == "train_end"), key=lambda e: e["wall_time"])
    for begin, end in zip(begins, ends, strict=True):
        epochs = end["data"]["last_epoch"] - begin["data"]["initial_epoch"] + 1
        out.append([begin["step"] + (k + 1) * begin["data"]["steps"] for k in range(epochs)])
    return out


# ---------------------------------------------------------------- tests


def test_repeated_fits_are_kept_apart_at_their_own_steps(tb, browser):
    events = events_of(tb, "notebook/train")
    ends = fit_epoch_ends(events)
    assert len(ends) == 3 and ends[1][0] > ends[0][-1] and ends[2][0] == ends[0][0]  # continues, restarts
    # The route places each point of an epoch series at its own fit's step.
    series = tb.plugin_json("scalars?run=notebook/validation&tag=epoch_loss")
    placed = sorted(zip(series["wall_time"], series["global_step"], strict=True))
    expected = [s for fit in ends for s in fit]
    if tb.load_fast:
        # The data server kept only the last fit's points (its restart rule).
        assert [s for _, s in placed] == ends[2]
    else:
        assert [s for _, s in placed] == expected

    tab = open_filtered(browser, tb, "^notebook/")
    try:
        drawn = legend(tab, "epoch_loss")
        for run in ("notebook/train", "notebook/validation"):
            for fit, steps in enumerate(ends):
                label = f"{run} · fit {fit}"
                if tb.load_fast and fit < 2:
                    assert label not in drawn, "a fit the data server dropped is drawn"
                    continue
                assert (drawn[label]["x0"], drawn[label]["x1"]) == (steps[0], steps[-1]), label
        notes = tab.ui.locator(".chart-card[data-tag=epoch_loss] .chart-notes").inner_text()
        if tb.load_fast:
            assert "fits 0, 1 are missing or partial" in notes and "--load_fast=false" in notes
        else:
            assert "missing" not in notes
        shot(tab, f"repeated-fits-{'load_fast' if tb.load_fast else 'python'}")
        # An event says which fit it belongs to: the lr_change is the second fit's.
        kind = tab.ui.locator("[data-col=kind]", has_text="lr_change")
        tab.ui.locator(".table-viewport .grid-row", has=kind).first.click()
        details = tab.ui.locator(".details")
        details.wait_for()
        fields = dict(
            zip(
                details.locator("dt").all_inner_texts(), details.locator("dd").all_inner_texts(), strict=False
            )
        )
        assert fields["Fit"] == "1"
    finally:
        tab.close()


@pytest.mark.parametrize(
    ("run", "kind", "colour"),
    [("stopped", "early_stop", EARLY_STOP), ("diverged", "nan_terminated", NAN_TERMINATED)],
)
def test_the_reason_a_fit_ended_is_drawn_on_top(tb, browser, run, kind, colour):
    events = events_of(tb, f"{run}/train")
    (ending,) = [e for e in events if e["kind"] == kind]
    (end,) = [e for e in events if e["kind"] == "train_end"]
    assert end["step"] == ending["step"]  # they share a step: one of them must win
    tab = open_filtered(browser, tb, f"^{run}/")
    try:
        img = chart_pixels(tab, "epoch_loss")
        px = px_of(img, ending["step"])
        r = int(6 * img["pr"])
        # The glyph row along the top edge (NaN/Inf marks are drawn below it).
        band = (range(px - r, px + r + 1), range(int(img["top"]), int(img["top"] + 2 * r)))
        assert near_colour(img, colour, *band) > 4, f"no {kind} glyph at its step"
        assert near_colour(img, TRAIN_END, *band) == 0, "train_end is drawn over the reason"
        # Its line runs the chart's height.
        low = range(int(img["top"] + img["plotHeight"] * 0.8), int(img["top"] + img["plotHeight"] * 0.9))
        assert near_colour(img, colour, range(px - 1, px + 2), low, tolerance=120) > 0
        shot(tab, f"ending-{kind}")
    finally:
        tab.close()


def test_a_run_that_went_nan_shows_its_finite_points_and_where_it_turned(tb, browser):
    series = tb.plugin_json("scalars?run=diverged/train&tag=epoch_loss")
    bad = [i for i, name in enumerate(series["nonfinite"] or []) if name]
    finite = [v for v in series["value"] if v is not None]
    assert bad and len(finite) == 1  # one good epoch, then Inf/NaN
    tab = open_filtered(browser, tb, "^diverged/")
    try:
        shot(tab, "nan")
        drawn = legend(tab, "epoch_loss")["diverged/train"]
        assert drawn["bad"] == len(bad)
        assert drawn["value"] != "—" and drawn["value"].endswith("then NaN/Inf")
        assert float(drawn["value"].split(",")[0]) == pytest.approx(finite[0], rel=1e-3)
        img = chart_pixels(tab, "epoch_loss")
        colour = tab.ui.locator(".chart-card[data-tag=epoch_loss] .legend-swatch").first.get_attribute(
            "style"
        )
        rgb = swatch_rgb(colour)
        top = int(img["top"])
        for i in bad:  # an × below the top edge's glyphs at each NaN/Inf
            px = px_of(img, series["global_step"][i])
            assert near_colour(img, rgb, range(px - 6, px + 7), range(top + 12, top + 26)) > 3
        # The single finite point is drawn as a point.
        px = px_of(img, series["global_step"][series["value"].index(finite[0])])
        body = range(top + 28, int(img["top"] + img["plotHeight"]))
        assert near_colour(img, rgb, range(px - 4, px + 5), body) > 3
    finally:
        tab.close()


def test_learning_rate_steps_at_the_lr_change_event(tb, browser):
    if tb.load_fast:
        pytest.skip("the data server dropped the earlier fits' learning rate (tested above)")
    events = events_of(tb, "notebook/train")
    (change,) = [e for e in events if e["kind"] == "lr_change"]
    tab = open_filtered(browser, tb, "^notebook/train$")
    try:
        tab.ui.locator(".side-section", has_text="Metrics").locator(
            ".check-row", has_text="epoch_learning_rate"
        ).locator("input").check()
        tab.wait_ready()
        fit = legend(tab, "epoch_learning_rate")["notebook/train · fit 1"]
        img = chart_pixels(tab, "epoch_learning_rate")
        colour = tab.ui.locator(
            ".chart-card[data-tag=epoch_learning_rate] .legend-item[data-fit='1'] .legend-swatch"
        ).get_attribute("style")
        rgb = swatch_rgb(colour)

        def line_y(x: int) -> float:
            hits = [
                y
                for y in range(int(img["top"]), int(img["top"] + img["plotHeight"]))
                if near_colour(img, rgb, range(x, x + 1), range(y, y + 1)) > 0
            ]
            assert hits, f"no line at x={x}"
            return sum(hits) / len(hits)

        px = px_of(img, change["step"])
        before = px_of(img, fit["x0"]) + (px - px_of(img, fit["x0"])) // 2
        left, right = line_y(px - 4), line_y(px + 4)
        assert right > left + 5, "the rate does not drop at the event"  # lower value, larger y
        # Flat before the event: no slope leading into it.
        assert abs(line_y(before) - left) <= 2
        shot(tab, "lr-step")
    finally:
        tab.close()


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    write_many(root)
    return root


def test_twenty_runs_stay_legible(many, browser):
    """Over 60 s: the twenty runs are twenty real fits (a model each) and a
    TensorBoard of their own; the tab's focus bar is for exactly that many."""
    with tensorboard(str(many), load_fast=True, start_timeout=300, tensorflow=False) as server:
        # Every run: train_begin, a checkpoint per epoch, train_end; and the
        # charted experiments' metrics all read.
        epochs = MANY_EPOCHS
        server.wait_for(
            lambda: [r["count"] for r in server.plugin_json("runs")["runs"]] == [epochs + 2] * MANY,
            timeout=120,
        )
        for run in ("exp00/train", "exp00/validation", "exp01/train", "exp01/validation"):
            server.wait_for(
                lambda run=run: len(server.plugin_json(f"scalars?run={run}&tag=epoch_loss")["step"]) == epochs
            )
        tab = Tab(browser, server.base)
        try:
            tab.wait_ready()
            # Twenty experiments are a search: a table of them, and the charts
            # of the trials chosen in it.
            assert tab.ui.locator(".search-card").is_visible()
            assert tab.attr(".search-card", "data-trials") == str(MANY)
            assert tab.ui.locator(".charts").is_hidden()
            tab.ui.locator(".search-row[data-trial=exp01]").click()
            tab.wait_ready()
            assert set(legend(tab, "epoch_loss")) == {"exp01/train", "exp01/validation"}
            # Checkpoints are ticks at the top, not lines across the chart.
            img = chart_pixels(tab, "epoch_loss")
            events = events_of(server, "exp01/train")
            others = {e["step"] for e in events if e["kind"] != "checkpoint_saved"}
            # A checkpoint at the step of another event (the last, with train_end) shares its glyph.
            saves = [e["step"] for e in events if e["kind"] == "checkpoint_saved" and e["step"] not in others]
            assert len(saves) >= 2
            blue = (0x15, 0x65, 0xC0)
            mid = range(int(img["top"] + img["plotHeight"] * 0.4), int(img["top"] + img["plotHeight"] * 0.95))
            for step in saves:
                px = px_of(img, step)
                assert (
                    near_colour(
                        img, blue, range(px - 5, px + 6), range(int(img["top"]), int(img["top"] + 20))
                    )
                    > 0
                )
                assert near_colour(img, blue, range(px - 1, px + 2), mid, tolerance=60) == 0
            shot(tab, "twenty-runs")
            # The kinds filter lists the kinds of the selected runs only.
            tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("^exp03/")
            tab.wait_ready()
            kinds = (
                tab.ui.locator(".side-section", has_text="Event kinds")
                .locator(".label-text")
                .all_inner_texts()
            )
            (summary,) = [r for r in server.plugin_json("runs")["runs"] if r["run"] == "exp03/train"]
            assert sorted(kinds) == sorted(summary["kinds"])
            assert not tab.ui.locator(".focus-bar").is_visible()  # one experiment: no focus needed
        finally:
            tab.close()


def test_table_keeps_the_outcome_of_a_message(tb, browser):
    events = events_of(tb, "notebook/train")
    (change,) = [e for e in events if e["kind"] == "lr_change"]
    assert " -> " in change["message"]
    tab = open_filtered(browser, tb, "^notebook/train$")
    try:
        tab.page.set_viewport_size({"width": 1100, "height": 1000})
        tab.next_frame()
        kind = tab.ui.locator("[data-col=kind]", has_text="lr_change")
        cell = tab.ui.locator(".table-viewport .grid-row", has=kind).first.locator("[data-col=message]")
        tail = cell.locator(".msg-tail")
        outcome = tail.inner_text()
        # The change itself, "old -> new", is what the cell keeps whole.
        assert " -> " in outcome and change["message"].endswith(outcome)
        box, inner = cell.bounding_box(), tail.bounding_box()
        assert inner["x"] >= box["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"] + 0.5
        assert cell.get_attribute("title") == change["message"]
        shot(tab, "table-message")
    finally:
        tab.close()
