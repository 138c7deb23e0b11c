"""The Callback Events tab in a real browser, against a real `tensorboard`.

The logdir is written by real `model.fit` runs with `callbacks.TensorBoard`
(and a run that holds events only); the page is TensorBoard itself, with our
tab in its iframe, driven by Playwright in Debian's Chromium. Every count is
checked against the plugin's own routes, never against a number written here.

Screenshots land in `test-output/frontend/` for a person to look at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.browser import CHROMIUM, available, launch  # noqa: E402
from tests.needs import need  # noqa: E402
from tests.tb_server import tensorboard  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>"
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "frontend"
VIEWPORT = {"width": 1440, "height": 1000}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True, scope="module")
def _chromium():
    need(available(), f"{CHROMIUM} is missing (apt-get install chromium)")


# Polled in TensorBoard's page: our iframe is same-origin.
APP_STATE = """() => document.querySelector('iframe')?.contentDocument
  ?.querySelector('.cbe-app')?.dataset.state ?? null"""


# ---------------------------------------------------------------- logdir


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:480] / 16.0).astype("float32"), y[:480].astype("int32")


def _fit(log_dir: str, *, lr: float, epochs: int, seed: int, extra: list) -> None:
    import keras

    from tb_callbacks_plugin import callbacks

    keras.utils.set_random_seed(seed)
    x, y = _digits()
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[*extra, callbacks.TensorBoard(log_dir)],
    )


def _write_logdir(root: Path) -> None:
    import keras

    from tb_callbacks_plugin import EventWriter, callbacks

    class Note(callbacks.Callback):
        """A user's callback whose event text is hostile HTML."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.log_event("note", HOSTILE, html="<b>bold</b>", val_loss=float(logs["val_loss"]))

    _fit(
        str(root / "adam"),
        lr=0.02,
        epochs=10,
        seed=0,
        extra=[
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=0.05),
            callbacks.EarlyStopping(monitor="val_loss", patience=3),
            callbacks.ModelCheckpoint(str(root / "best.keras"), monitor="val_loss", save_best_only=True),
            Note(),
        ],
    )
    _fit(
        str(root / "sched"),
        lr=0.01,
        epochs=6,
        seed=1,
        extra=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch == 3 else lr)],
    )
    # A run with events and no metrics at all.
    with EventWriter(root / "events_only") as writer:
        writer.write("data.shard_done", 10, "shard 1 of 3 done", source="Loader", shard=1)
        writer.write("data.shard_done", 20, "shard 2 of 3 done", source="Loader", shard=2)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("frontend_logs")
    _write_logdir(root)
    return root


@pytest.fixture(scope="module")
def tb(logdir):
    with tensorboard(str(logdir), load_fast=True, tensorflow=False) as server:
        server.wait_for(lambda: len(server.plugin_json("runs")["runs"]) == 3)
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


# ---------------------------------------------------------------- helpers


class Tab:
    """TensorBoard's page with our tab open, and what happened in it."""

    def __init__(
        self, browser, base: str, *, dark: bool = False, hash_: str = "#callback_events", setup=None
    ):
        self.context = browser.new_context(viewport=VIEWPORT, color_scheme="dark" if dark else "light")
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))
        if setup:
            setup(self.page)
        self.page.goto(base + "/" + hash_)

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    @property
    def ui(self):
        return self.page.frame_locator("iframe")

    @property
    def frame(self):
        frames = self.page.main_frame.child_frames
        assert frames, "the plugin iframe is missing"
        return frames[0]

    def wait_state(self, *states: str, timeout: float = 60_000) -> str:
        self.page.wait_for_function(
            f"() => {json.dumps(list(states))}.includes(({APP_STATE})())", polling=100, timeout=timeout
        )
        return self.page.evaluate(APP_STATE)

    def wait_ready(self) -> None:
        self.wait_state("ready")

    def next_frame(self) -> None:
        self.frame.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def wait_attr(self, name: str, value: str) -> None:
        """Waits until the app's root element has `name` == `value`."""
        self.page.wait_for_function(
            "([name, value]) => document.querySelector('iframe').contentDocument"
            ".querySelector('.cbe-app').getAttribute(name) === value",
            arg=[name, value],
        )

    def attr(self, selector: str, name: str) -> str | None:
        return self.ui.locator(selector).first.get_attribute(name)

    def canvas(self, selector: str) -> str:
        """A digest of what the first canvas under `selector` shows."""
        self.next_frame()
        url = self.frame.evaluate(
            "(sel) => document.querySelector(sel + ' canvas').toDataURL('image/png')", selector
        )
        return hashlib.sha256(url.encode()).hexdigest()

    def table_rows(self) -> int:
        return int(self.attr(".grid", "aria-rowcount")) - 1

    def drawn(self) -> int:
        return int(self.attr(".timeline-plot", "data-drawn"))

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


@pytest.fixture
def open_tab(browser, tb):
    tabs: list[Tab] = []

    def opener(**kwargs) -> Tab:
        tab = Tab(browser, tb.base, **kwargs)
        tabs.append(tab)
        return tab

    yield opener
    for tab in tabs:
        tab.close()


def note_row(tab: Tab):
    """The table row of the user's "note" event (the hostile message)."""
    kind = tab.ui.locator("[data-col=kind]", has_text=re.compile(r"^note$"))
    return tab.ui.locator(".table-viewport .grid-row", has=kind).first


def route_events(tb, run: str) -> list[dict]:
    from urllib.parse import quote

    return tb.plugin_json(f"events?run={quote(run)}")["events"]


# ---------------------------------------------------------------- tests


def test_tab_is_in_tensorboards_tab_bar_and_shows_every_event(tb, open_tab):
    tab = open_tab(hash_="")
    tab.page.get_by_role("tab", name="Callback Events").click()
    tab.wait_ready()
    runs = tb.plugin_json("runs")["runs"]
    expected = sum(len(route_events(tb, r["run"])) for r in runs)
    assert expected == sum(r["count"] for r in runs) > 10
    assert tab.table_rows() == expected
    assert tab.drawn() == expected  # every event has a step, so all are on the timeline
    for r in runs:
        row = tab.ui.locator(".sidebar .check-row", has_text=r["run"])
        assert row.locator(".count").inner_text() == str(r["count"])
    # One lane per kind, each with its count.
    kinds: dict[str, int] = {}
    for r in runs:
        for kind, n in r["kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    for kind, n in kinds.items():
        row = tab.ui.locator(".side-section", has_text="Event kinds").locator(".check-row", has_text=kind)
        assert row.locator(".count").inner_text() == f"{n:,}"
    # The loss chart has the train and validation lines of both fits.
    loss = tab.ui.locator(".chart-card[data-tag=epoch_loss]")
    legend = loss.locator(".legend-run").all_inner_texts()
    assert sorted(legend) == ["adam/train", "adam/validation", "sched/train", "sched/validation"]
    assert "events_only has no scalar metrics." in tab.ui.locator(".charts-message").inner_text()
    tab.shot("overview")


def test_hostile_message_is_shown_as_text(tb, open_tab):
    tab = open_tab()
    tab.wait_ready()
    row = note_row(tab)
    assert row.locator("[data-col=message]").inner_text() == HOSTILE
    row.click()
    details = tab.ui.locator(".details")
    details.wait_for()
    assert details.locator(".details-message").inner_text() == HOSTILE
    assert "<b>bold</b>" in details.locator(".data-list").inner_text()
    # Nothing was parsed as markup (the glyphs are SVG, there are no images).
    assert tab.frame.evaluate("document.querySelectorAll('img, b').length") == 0
    time.sleep(0.5)  # an injected onerror would have fired by now
    assert tab.dialogs == []
    tab.shot("hostile-message")


def test_x_axis_switch_changes_what_is_drawn(tb, open_tab):
    tab = open_tab()
    tab.wait_ready()
    before = (tab.canvas(".timeline-plot"), tab.canvas(".chart-card[data-tag=epoch_loss] .chart-plot"))
    for axis in ("epoch", "relative", "step"):
        tab.ui.locator(f"label.segment[data-value={axis}]").click()
        tab.wait_attr("data-x-axis", axis)
        drawn = (tab.canvas(".timeline-plot"), tab.canvas(".chart-card[data-tag=epoch_loss] .chart-plot"))
        if axis == "step":
            assert drawn == before  # back where it started: the same picture
        else:
            assert drawn[0] != before[0] and drawn[1] != before[1], axis
            tab.shot(f"axis-{axis}")


def test_run_and_kind_filters_change_what_is_drawn(tb, open_tab):
    tab = open_tab()
    tab.wait_ready()
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    total = sum(r["count"] for r in runs.values())
    picture = tab.canvas(".timeline-plot")

    # Kinds: turning off lr_change removes exactly its events.
    lr_changes = sum(r["kinds"].get("lr_change", 0) for r in runs.values())
    assert lr_changes > 0
    kind_box = tab.ui.locator(".side-section", has_text="Event kinds").locator(
        ".check-row", has_text="lr_change"
    )
    kind_box.locator("input").uncheck()
    assert tab.drawn() == total - lr_changes == tab.table_rows()
    assert tab.canvas(".timeline-plot") != picture
    tab.shot("kind-filter")
    kind_box.locator("input").check()
    assert tab.drawn() == total

    # Runs: turning one off removes its events, its lines and its legend entries.
    tab.ui.locator(".sidebar .check-row", has_text="adam/train").locator("input").uncheck()
    assert tab.drawn() == total - runs["adam/train"]["count"] == tab.table_rows()
    legend = tab.ui.locator(".chart-card[data-tag=epoch_loss] .legend-run").all_inner_texts()
    assert sorted(legend) == ["sched/train", "sched/validation"]
    tab.ui.locator(".sidebar button", has_text="All").first.click()
    assert tab.drawn() == total

    # The regex filter narrows the runs; a broken one says why.
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("^sched")
    assert tab.drawn() == runs["sched/train"]["count"]
    tab.ui.locator("input[aria-label='Filter runs by regular expression']").fill("(")
    assert "Invalid regular expression" in tab.ui.locator(".field-error").inner_text()


def test_reload_brings_new_events_and_keeps_zoom_and_selection(tb, logdir, open_tab):
    from tb_callbacks_plugin import EventWriter

    tab = open_tab()
    tab.wait_ready()
    before = tab.table_rows()
    # Select an event (the row click centres the charts on it), then zoom in
    # further with the keyboard on the timeline.
    note_row(tab).click()
    selected = tab.ui.locator(".details-message").inner_text()
    centred = tab.attr(".cbe-app", "data-zoom")
    tab.ui.locator(".timeline-plot").focus()
    tab.page.keyboard.press("+")
    zoom = tab.attr(".cbe-app", "data-zoom")
    assert zoom and centred and zoom != centred

    with EventWriter(logdir / "sched" / "train") as writer:
        writer.write(
            "checkpoint_saved", 25, "written while the page was open", source="Test", filepath="x.keras"
        )
    tb.wait_for(
        lambda: any(
            e["message"] == "written while the page was open" for e in route_events(tb, "sched/train")
        )
    )
    generation = int(tab.attr(".cbe-app", "data-generation"))
    tab.page.locator("app-header-reload button").click()  # TensorBoard's own reload button
    tab.page.wait_for_function(
        "(g) => Number(document.querySelector('iframe').contentDocument"
        ".querySelector('.cbe-app').dataset.generation) > g",
        arg=generation,
    )
    tab.wait_ready()
    assert tab.table_rows() == before + 1
    tab.ui.locator("input[aria-label='Filter events by text']").fill("while the page was open")
    assert tab.table_rows() == 1
    assert tab.attr(".cbe-app", "data-zoom") == zoom
    assert tab.ui.locator(".details-message").inner_text() == selected
    tab.shot("after-reload")


def test_tooltip_and_keyboard(tb, open_tab):
    tab = open_tab()
    tab.wait_ready()
    # Hover along the "note" lane until a marker's tooltip shows.
    over = tab.ui.locator(".timeline-plot .u-over").bounding_box()
    kinds = tab.ui.locator(".side-section", has_text="Event kinds").locator(".label-text").all_inner_texts()
    y = over["y"] + over["height"] * (kinds.index("note") + 0.5) / len(kinds)
    tooltip = tab.ui.locator(".tooltip")
    for dx in range(0, int(over["width"]), 3):
        tab.page.mouse.move(over["x"] + dx, y)
        if tooltip.is_visible():
            break
    assert tooltip.is_visible()
    assert tooltip.locator(".tooltip-message").inner_text() == HOSTILE
    assert "adam/train" in tooltip.inner_text()
    tab.shot("tooltip")
    tab.page.mouse.move(5, 5)

    # Keyboard: the x-axis radios and the table rows.
    tab.ui.locator("label.segment[data-value=step] input").focus()
    tab.page.keyboard.press("ArrowRight")
    assert tab.attr(".cbe-app", "data-x-axis") == "epoch"
    tab.ui.locator(".table-viewport").focus()
    tab.page.keyboard.press("ArrowDown")
    tab.page.keyboard.press("Enter")
    assert tab.ui.locator(".details").is_visible()
    assert tab.attr(".cbe-app", "data-zoom")  # Enter centres the charts on the event
    tab.ui.locator(".details .icon-button").focus()
    tab.page.keyboard.press("Escape")
    assert not tab.ui.locator(".details").is_visible()


def test_dark_mode_follows_tensorboard(tb, open_tab):
    tab = open_tab(dark=True)
    tab.wait_ready()
    assert tab.page.evaluate("document.body.classList.contains('dark-mode')")
    assert tab.frame.evaluate("document.documentElement.classList.contains('dark')")
    background = tab.frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    tab.shot("dark-mode")
    # TensorBoard's own toggle switches us too.
    tab.page.evaluate("document.body.classList.remove('dark-mode')")
    tab.page.wait_for_function(
        "() => !document.querySelector('iframe').contentDocument.documentElement.classList.contains('dark')"
    )


# The runs listing, with or without a query (the tab asks for `runs?digest=1`).
RUNS_ROUTE = re.compile(r".*/data/plugin/callback_events/runs(\?.*)?$")


def test_backend_error_is_shown_and_retry_recovers(tb, open_tab):
    # The real routes do not fail on demand: answer `runs` with an error once.
    def fail_runs(page):
        page.route(
            RUNS_ROUTE,
            lambda route: route.fulfill(
                status=503,
                content_type="application/json",
                body=json.dumps({"error": "data server unavailable"}),
            ),
        )

    tab = open_tab(setup=fail_runs)
    assert tab.wait_state("error") == "error"
    assert "data server unavailable" in tab.ui.locator(".empty-state").inner_text()
    tab.shot("backend-error")
    tab.page.unroute(RUNS_ROUTE)
    tab.ui.locator(".empty-state button", has_text="Retry").click()
    tab.wait_ready()


def test_empty_logdir_says_how_to_start(tmp_path, browser):
    with tensorboard(str(tmp_path), load_fast=False, tensorflow=False) as server:
        tab = Tab(browser, server.base)
        try:
            assert tab.wait_state("empty") == "empty"
            text = tab.ui.locator(".empty-state").inner_text()
            assert "No callback events yet" in text and "callbacks.TensorBoard" in text
            tab.shot("empty")
        finally:
            tab.close()


def test_python_loader_serves_the_same_events(logdir, browser):
    with tensorboard(str(logdir), load_fast=False, tensorflow=False) as server:
        runs = server.wait_for(lambda: (r := server.plugin_json("runs")["runs"]) and len(r) == 3 and r)
        tab = Tab(browser, server.base)
        try:
            tab.wait_ready()
            assert tab.table_rows() == sum(r["count"] for r in runs) == tab.drawn()
        finally:
            tab.close()
