"""The search view in Chromium on a real TensorBoard (both loaders): a loop of
real tiny fits (stopped early, on NaN, with rate changes and checkpoints,
completed) beside a generated search (bench/search_logdir.py). The table's
endings match `read_events`, sorting and filtering work, the selected trials
are drawn together in distinct colours with every marker accounted for, the
x range follows the selection (and "Charts of" one experiment), TensorBoard's
reload keeps sort, filter and selection. Screenshots go to test-output/."""

from __future__ import annotations

import collections
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from browser import available, launch
from needs import need
from tb_server import tensorboard
from test_frontend import Tab

from tb_callbacks_plugin import read_events

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from frontend_render import select_trials  # noqa: E402
from search_logdir import STEPS_PER_EPOCH, trial_name, trial_plan, write_search  # noqa: E402

GENERATED = 40
SHOTS = Path(__file__).resolve().parent.parent / "test-output"
ENDING_OF_KIND = {"early_stop": "early_stop", "nan_terminated": "nan"}


def _fits(root: Path) -> None:
    """Four tiny real fits, each ending its own way."""
    import keras
    from sklearn.datasets import load_digits

    from tb_callbacks_plugin import callbacks

    digits = load_digits()
    x = (digits.data[:256] / 16).astype("float32")
    y = digits.target[:256]

    plans = {
        "fit_stopped": [callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)],
        "fit_lr": [
            callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0, factor=0.5),
            callbacks.ModelCheckpoint(str(root / "lr.keras")),
        ],
        "fit_nan": [callbacks.TerminateOnNaN()],
        "fit_done": [],
    }
    for seed, (name, extra) in enumerate(plans.items()):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(10)]
        )
        model.compile(
            keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        # A NaN input makes the loss of the batch holding it NaN (tanh passes NaN on; relu would not).
        inputs = x.copy()
        if name == "fit_nan":
            inputs[3] = np.nan
        model.fit(
            inputs, y, validation_split=0.25, epochs=4, batch_size=64, verbose=0,
            callbacks=[*extra, callbacks.TensorBoard(str(root / name))],
        )  # fmt: skip


def expected_ending(events) -> tuple[str, int | None]:
    """How a trial ended and at which epoch (1-based), by the tab's rule."""
    ends = [e for e in events if e.kind == "train_end"]
    if ends:
        end = max(ends, key=lambda e: e.wall_time)
        last = end.data.get("last_epoch", end.epoch)
        return end.data.get("reason", "completed"), None if last is None else last + 1
    stops = [e for e in events if e.kind in ENDING_OF_KIND]
    if stops:
        stop = max(stops, key=lambda e: e.wall_time)
        return ENDING_OF_KIND[stop.kind], None if stop.epoch is None else stop.epoch + 1
    return "running", None


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search_tab")
    _fits(root)
    write_search(str(root / "gen"), GENERATED)
    return root


@pytest.fixture(scope="module")
def expected(logdir) -> dict[str, tuple[str, int | None]]:
    trials = [f"fit_{n}" for n in ("stopped", "lr", "nan", "done")]
    trials += [f"gen/{trial_name(i)}" for i in range(GENERATED)]
    return {t: expected_ending(read_events(str(logdir / t))) for t in trials}


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast=true", "load_fast=false"])
def tb(request, logdir):
    with tensorboard(str(logdir), load_fast=request.param, start_timeout=300, tensorflow=False) as server:
        total = 4 + GENERATED
        server.wait_for(lambda: len(server.plugin_json("runs")["runs"]) == total, timeout=300)
        yield server


@pytest.fixture(scope="module")
def browser():
    need(available(), "Chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def _open(browser, tb, dark=False) -> Tab:
    tab = Tab(browser, tb.base, dark=dark)
    tab.wait_state("ready", timeout=180_000)
    tab.page.wait_for_function(
        "() => document.querySelector('iframe').contentDocument"
        ".querySelector('.search-card')?.dataset.loading === 'false'",
        timeout=120_000,
    )
    tab.next_frame()
    return tab


def _card(tab: Tab, name: str) -> str:
    return tab.attr(".search-card", f"data-{name}")


def _rows(tab: Tab) -> list[dict]:
    tab.next_frame()
    return tab.frame.evaluate(
        """() => [...document.querySelectorAll('.search-row[data-trial]')].map((r) => ({
            trial: r.dataset.trial, ending: r.dataset.ending,
            epoch: r.dataset.endEpoch === '' ? null : Number(r.dataset.endEpoch),
            selected: r.getAttribute('aria-selected') === 'true'}))"""
    )


def _filter(tab: Tab, text: str) -> None:
    box = tab.ui.locator(".search-filter")
    box.fill(text)
    tab.next_frame()


def _select_first(tab: Tab, n: int) -> None:
    """Selects the first `n` rows shown, with the keyboard."""
    select_trials(tab.page, n)
    tab.next_frame()


def _domain(tab: Tab) -> tuple[float, float]:
    lo, hi = tab.attr(".cbe-app", "data-domain").split(",")
    return float(lo), float(hi)


def _run_colours(tab: Tab, runs: list[str]) -> dict[str, str]:
    return tab.frame.evaluate(
        """(runs) => Object.fromEntries(runs.map((run) => {
            const labels = [...document.querySelectorAll('.sidebar label[title]')];
            const label = labels.find((l) => l.title === run);
            const swatch = label && label.querySelector('.swatch');
            return [run, swatch ? swatch.style.getPropertyValue('--swatch') : null];
        }))""",
        runs,
    )


def test_table_endings_sort_and_filter(tb, browser, expected):
    tab = _open(browser, tb)
    try:
        assert int(_card(tab, "trials")) == len(expected)
        chips = tab.frame.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.search-endings .chip')]"
            ".map((c) => [c.dataset.ending, Number(c.dataset.count)]))"
        )
        counts = collections.Counter(ending for ending, _ in expected.values())
        assert chips == {"all": len(expected), **counts}
        # The table alone (no trial drawn) still shows every run: the sidebar
        # counts them all and dims none (it said "0 of 44", every run dimmed).
        runs = tb.plugin_json("runs")["runs"]
        sidebar = tab.frame.evaluate(
            "() => ({count: document.querySelector('.side-header .muted').textContent,"
            " dimmed: document.querySelectorAll('.sidebar .check-list')[0]"
            ".querySelectorAll('.check-row.dimmed').length})"
        )
        assert sidebar == {"count": f"{len(runs)} of {len(runs)}", "dimmed": 0}
        tab.shot(f"search-table-{tb.load_fast}")

        _filter(tab, "fit_")
        rows = _rows(tab)
        assert int(_card(tab, "rows")) == 4 == len(rows)
        assert {r["trial"]: (r["ending"], r["epoch"]) for r in rows} == {
            t: v for t, v in expected.items() if t.startswith("fit_")
        }
        # The real fits ended three ways.
        assert {r["ending"] for r in rows} == {"early_stop", "completed", "nan"}

        _filter(tab, "")
        tab.ui.locator("button[data-column=endEpoch]").click()
        epochs = [r["epoch"] for r in _rows(tab)]
        shown = sorted((e for _, e in expected.values() if e is not None))
        assert epochs[:10] == shown[:10]
        tab.ui.locator("button[data-column=endEpoch]").click()
        assert [r["epoch"] for r in _rows(tab)][:10] == shown[::-1][:10]

        tab.ui.locator(".search-endings .chip[data-ending=nan]").click()
        tab.next_frame()
        assert int(_card(tab, "rows")) == counts["nan"]
        assert {r["ending"] for r in _rows(tab)} == {"nan"}
        tab.ui.locator(".search-endings .chip[data-ending=all]").click()
        _filter(tab, "learning_rate=0.01")
        wanted = [
            t
            for t in expected
            if t.startswith("gen/") and trial_plan(int(t[-4:]))["hparams"]["learning_rate"] == 0.01
        ]
        assert int(_card(tab, "rows")) == len(wanted)
    finally:
        tab.close()


def test_a_reports_table_reads_the_events_as_the_tab_reads_the_digests(logdir, browser, expected, tmp_path):
    """A report's inlined `runs` has no digests (`runs?digest=1`): its table
    reads every run's events instead, to the same rows."""
    from tb_callbacks_plugin.cli import main as cli

    out = str(tmp_path / "search.html")
    assert cli.main(["report", str(logdir), "-o", out, "--no-progress"]) == 0
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        page.goto("file://" + out)
        page.wait_for_function(
            "() => document.querySelector('.search-card')?.dataset.loading === 'false'"
            " && document.querySelector('.search-row[data-trial]')",
            timeout=120_000,
        )
        chips = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.search-endings .chip')]"
            ".map((c) => [c.dataset.ending, Number(c.dataset.count)]))"
        )
        counts = collections.Counter(ending for ending, _ in expected.values())
        assert chips == {"all": len(expected), **counts}
        box = page.locator(".search-filter")
        for prefix in ("fit_", "gen/trial_000", "gen/trial_001", "gen/trial_002", "gen/trial_003"):
            box.fill(prefix)
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
            rows = page.evaluate(
                """() => [...document.querySelectorAll('.search-row[data-trial]')].map((r) => [
                    r.dataset.trial, r.dataset.ending,
                    r.dataset.endEpoch === '' ? null : Number(r.dataset.endEpoch)])"""
            )
            wanted = {t: v for t, v in expected.items() if t.startswith(prefix)}
            assert wanted and {t: (e, n) for t, e, n in rows} == wanted
    finally:
        page.close()


def test_selected_trials_drawn_together(tb, browser, expected):
    tab = _open(browser, tb)
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    try:
        # Two generated trials of different lengths: the x range fits them.
        _filter(tab, "gen/trial_000")
        tab.ui.locator(".search-row[data-trial='gen/trial_0001']").click()
        tab.wait_state("ready", timeout=120_000)
        end = (trial_plan(1)["last_epoch"] + 1) * STEPS_PER_EPOCH
        lo, hi = _domain(tab)
        assert hi == pytest.approx(end * 1.02, rel=1e-3) and lo == pytest.approx(-end * 0.02, rel=1e-3)
        tab.ui.locator(".search-row[data-trial='gen/trial_0000']").click()
        tab.wait_state("ready", timeout=120_000)
        end = (trial_plan(0)["last_epoch"] + 1) * STEPS_PER_EPOCH
        assert _domain(tab)[1] == pytest.approx(end * 1.02, rel=1e-3)
        assert (
            int(tab.attr(".timeline-plot", "data-accounted"))
            == runs["gen/trial_0000/train"]["count"] + runs["gen/trial_0001/train"]["count"]
        )

        # Twenty trials at once: twenty colours, every marker accounted for.
        tab.ui.locator("text=Clear selection").click()
        _filter(tab, "gen/")
        _select_first(tab, 20)
        # Sorted by name: the first twenty generated trials (only the rows in
        # view are in the page).
        selected = [f"gen/{trial_name(i)}" for i in range(20)]
        assert _card(tab, "selected") == "20"
        assert all(r["selected"] == (r["trial"] in selected) for r in _rows(tab))
        tab.wait_state("ready", timeout=120_000)
        tab.next_frame()
        colours = _run_colours(tab, [f"{t}/train" for t in selected])
        assert None not in colours.values() and len(set(colours.values())) == 20, colours
        total = sum(runs[f"{t}/train"]["count"] for t in selected)
        assert int(tab.attr(".timeline-plot", "data-drawn")) == total
        assert int(tab.attr(".timeline-plot", "data-accounted")) == total
        assert int(tab.attr(".timeline-plot", "data-counted")) > 0  # same-step markers of several runs
        tab.shot(f"search-selected-{tb.load_fast}")

        # TensorBoard's reload keeps sort, filter and selection.
        tab.ui.locator("button[data-column=duration]").click()
        generation = int(tab.attr(".cbe-app", "data-generation"))
        tab.page.locator("app-header-reload button").click()
        tab.page.wait_for_function(
            "(g) => Number(document.querySelector('iframe').contentDocument"
            ".querySelector('.cbe-app').dataset.generation) > g",
            arg=generation,
            timeout=120_000,
        )
        tab.next_frame()
        assert tab.ui.locator(".search-filter").input_value() == "gen/"
        head = tab.frame.evaluate(
            "() => document.querySelector('button[data-column=duration]')"
            ".parentElement.getAttribute('aria-sort')"
        )
        assert head == "ascending"
        assert sorted(r["trial"] for r in _rows(tab) if r["selected"]) == sorted(
            t for t in selected if t in {r["trial"] for r in _rows(tab)}
        )
        assert int(tab.attr(".timeline-plot", "data-drawn")) == total
    finally:
        tab.close()


def test_charts_of_one_experiment_fit_the_x_range(tb, browser):
    tab = _open(browser, tb)
    runs = {r["run"]: r for r in tb.plugin_json("runs")["runs"]}
    try:
        _filter(tab, "gen/")
        _select_first(tab, 26)  # more than the palette draws together: one at a time
        tab.wait_state("ready", timeout=120_000)
        focus = tab.ui.locator(".focus-select")
        focus.select_option("gen/trial_0001")
        tab.next_frame()
        end = (trial_plan(1)["last_epoch"] + 1) * STEPS_PER_EPOCH
        assert _domain(tab)[1] == pytest.approx(end * 1.02, rel=1e-3)
        assert int(tab.attr(".timeline-plot", "data-drawn")) == runs["gen/trial_0001/train"]["count"]
        tab.shot(f"search-focus-{tb.load_fast}")
    finally:
        tab.close()


def test_dark_mode(tb, browser):
    tab = _open(browser, tb, dark=True)
    try:
        _select_first(tab, 3)
        tab.wait_state("ready", timeout=120_000)
        background = tab.frame.evaluate(
            "() => getComputedStyle(document.querySelector('.search-row.selected')).backgroundColor"
        )
        assert background == "rgb(61, 46, 26)"  # the dark theme's --cbe-row-selected
        tab.shot(f"search-dark-{tb.load_fast}")
    finally:
        tab.close()


# More runs than the sidebar lists in full (checklist.VIRTUAL_ITEMS, 100).
LONG = 120


@pytest.fixture(scope="module", params=[True, False], ids=["load_fast=true", "load_fast=false"])
def long_tb(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("search_long")
    write_search(str(root), LONG)
    with tensorboard(str(root), load_fast=request.param, start_timeout=300, tensorflow=False) as server:
        server.wait_for(lambda: len(server.plugin_json("runs")["runs"]) == LONG, timeout=300)
        yield server


ROWS = """() => [...document.querySelectorAll('.sidebar .check-list')[0].querySelectorAll('.check-row')]
  .map((r) => ({run: r.dataset.key, checked: r.querySelector('input').checked,
                at: Number(r.getAttribute('aria-posinset')), of: Number(r.getAttribute('aria-setsize'))}))"""
FOCUSED = "() => document.activeElement?.closest('.check-row')?.dataset.key ?? null"


def test_long_run_list_is_virtualized(long_tb, browser):
    """A search's long run list keeps only the rows in its scroll box in the
    page, each saying its place; scrolling, the keyboard, the run filter and
    All/None still reach every run."""
    runs = [f"{trial_name(i)}/train" for i in range(LONG)]
    tab = _open(browser, long_tb)
    try:
        rows = tab.frame.evaluate(ROWS)
        assert 10 < len(rows) < 60, len(rows)
        assert [r["run"] for r in rows] == runs[: len(rows)]
        assert [r["at"] for r in rows] == list(range(1, len(rows) + 1))
        assert {r["of"] for r in rows} == {LONG}
        assert _card(tab, "trials") == str(LONG)
        assert tab.frame.evaluate("document.querySelector('.side-header .muted').textContent") == (
            f"{LONG} of {LONG}"
        )
        tab.shot(f"search-long-runs-{long_tb.load_fast}")

        # Scrolled to the end: the last runs are there, the first gone.
        tab.frame.evaluate(
            "() => { const list = document.querySelector('.sidebar .check-list');"
            " list.scrollTop = list.scrollHeight; }"
        )
        tab.next_frame()
        shown = [r["run"] for r in tab.frame.evaluate(ROWS)]
        assert shown[-1] == runs[-1] and runs[0] not in shown
        assert shown == runs[runs.index(shown[0]) :]

        # The keyboard: from the first run down 40 rows (past the rows first
        # drawn), Space turns that run off: its trial leaves the table.
        tab.frame.evaluate("() => { document.querySelector('.sidebar .check-list').scrollTop = 0; }")
        tab.next_frame()
        tab.ui.locator(f".sidebar .check-row[data-key='{runs[0]}'] input").focus()
        for _ in range(40):
            tab.page.keyboard.press("ArrowDown")
        assert tab.frame.evaluate(FOCUSED) == runs[40]
        tab.page.keyboard.press(" ")
        tab.next_frame()
        assert _card(tab, "trials") == str(LONG - 1)
        row = next(r for r in tab.frame.evaluate(ROWS) if r["run"] == runs[40])
        assert row["checked"] is False and row["at"] == 41
        tab.page.keyboard.press("End")
        assert tab.frame.evaluate(FOCUSED) == runs[-1]
        tab.page.keyboard.press("Home")
        assert tab.frame.evaluate(FOCUSED) == runs[0]

        # All turns every run back on; the run filter lists only its matches.
        tab.ui.locator(".sidebar button", has_text="All").first.click()
        tab.next_frame()
        assert _card(tab, "trials") == str(LONG)
        tab.ui.locator(".sidebar .text-input").fill("trial_01[0-2]")
        tab.next_frame()
        matching = [r for r in runs if re.match(r"trial_01[0-2]", r)]
        assert [r["run"] for r in tab.frame.evaluate(ROWS)] == matching
        assert tab.errors == []
    finally:
        tab.close()
