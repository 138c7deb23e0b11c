"""Benchmark: the Callback Events tab against TensorBoard's own Time Series tab.

Writes (once, then reuses) a logdir of 100 runs, each with 1,000 callback
events and a 1,000-point `epoch_loss` series (100,000 metric points in all),
starts a real `tensorboard` on it, and drives Debian's Chromium with
Playwright. Measured in the same run, on the same scalars:

- first render: from navigation to the tab's first complete render, for
  `#callback_events` and for `#timeseries` (all runs selected, every scalar
  card drawn). With more than six experiments ours opens on the search
  view: the table of every trial, its ending and its metric's best, final
  and curve (issue 21); with fewer, every event and metric line drawn;
- then (a search) 20 trials are selected in the table, as a user comparing
  them would, and drawn: the measures below are of those 20 trials' charts;
- zoom frames: the frame intervals (requestAnimationFrame) while a
  drag-to-zoom is performed on a metric chart and the charts redraw; for our
  tab also the script time of one zoom step (all plots redrawn);
- table scroll (ours only): the event table of the events drawn scrolled
  1,500 px a frame for 120 frames: the time from a scroll to the next frame.

Prints medians over the repeats and the ratio ours / TensorBoard's (for the
first render, the median of per-repetition ratios). Goal:
first render no slower than Time Series, zoom frames under 16 ms.

    .venv/bin/python bench/frontend_render.py [--repeat 3] [--runs 100 --events 1000 --points 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tb_callbacks_plugin import EventWriter  # noqa: E402
from tests.browser import launch  # noqa: E402
from tests.tb_server import TensorBoardProcess  # noqa: E402

KINDS = ("checkpoint_saved", "lr_change", "my_metric.alert", "weights_restored", "data.shard_done")
STEPS_PER_EPOCH = 10
T0 = 1_700_000_000.0
VIEWPORT = {"width": 1440, "height": 1000}


def _scalar(tag: str, value: float, meta: summary_pb2.SummaryMetadata) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


def write_logdir(logdir: str, runs: int, events: int, points: int) -> None:
    """`runs` runs, each with `events` events and `points` epochs of `epoch_loss`."""
    meta = scalar_metadata.create_summary_metadata(display_name="", description="")
    rng = np.random.default_rng(0)
    total_steps = points * STEPS_PER_EPOCH
    for r in range(runs):
        event_steps = np.sort(rng.integers(0, total_steps, size=events))
        nxt = 0
        with EventWriter(os.path.join(logdir, f"exp{r:03d}", "train")) as writer:
            for epoch in range(points):
                end = (epoch + 1) * STEPS_PER_EPOCH
                while nxt < events and event_steps[nxt] < end:
                    s = int(event_steps[nxt])
                    writer.write(
                        KINDS[(nxt + r) % len(KINDS)],
                        s,
                        f"event {nxt} of run {r}",
                        epoch=s // STEPS_PER_EPOCH,
                        source="Bench",
                        wall_time=T0 + s * 0.05,
                        index=nxt,
                    )
                    nxt += 1
                loss = 2.0 / (1 + epoch * (0.01 + r * 1e-4)) + 0.02 * rng.standard_normal()
                writer.write_summary(_scalar("epoch_loss", loss, meta), epoch, wall_time=T0 + end * 0.05)
                writer.write_epoch(epoch, end)
    with open(os.path.join(logdir, "COMPLETE"), "w") as f:
        json.dump({"runs": runs, "events": events, "points": points}, f)


def wait_ingested(tb: TensorBoardProcess, runs: int, events: int) -> None:
    def done() -> bool:
        listing = tb.plugin_json("runs")["runs"]
        return len(listing) == runs and all(r["count"] == events for r in listing)

    tb.wait_for(done, timeout=600, interval=2)


FRAME_RECORDER = """() => {
  window.__frames = [];
  window.__stop = false;
  let last = performance.now();
  const tick = (t) => {
    window.__frames.push(t - last);
    last = t;
    if (!window.__stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

# Conditions polled in the top page every animation frame; the time is the
# top page's performance.now(), i.e. milliseconds since navigation started.
OURS_DONE = """() => {
  const doc = document.querySelector('iframe')?.contentDocument;
  const search = doc?.querySelector('.search-card');
  const table = !search || search.hidden || search.dataset.loading === 'false';
  return Boolean(doc && doc.querySelector('.cbe-app[data-state=ready]') && table);
}"""

# Trials a user compares at once in the search view (at least 20 distinct colours).
SELECTED_TRIALS = 20

# TensorBoard draws its line charts in a worker (OffscreenCanvas), so the
# page cannot see pixels: done is when the timeSeries answer is in and no
# card shows a spinner any more (this favours TensorBoard slightly).
TIMESERIES_DONE = """() => {
  const cards = document.querySelectorAll('scalar-card');
  if (!cards.length) return false;
  const busy = 'scalar-card mat-spinner, scalar-card mat-progress-spinner, scalar-card mat-progress-bar';
  if (document.querySelector(busy)) return false;
  return performance.getEntriesByType('resource')
    .some((e) => e.name.includes('/timeseries/timeSeries') && e.responseEnd > 0);
}"""

ZOOM_STEP = """async (key) => {
  const el = document.querySelector('.chart-plot');
  const t = performance.now();
  el.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  // Every plot commits its redraw in a microtask queued by the key handler.
  await Promise.resolve();
  await Promise.resolve();
  return performance.now() - t;
}"""


# Scrolls the event table by `step` px every animation frame for `frames`
# frames and returns, per scroll, the time until the next frame (the table
# renders only the rows in view, in that frame).
TABLE_SCROLL = """async ([frames, step]) => {
  const vp = document.querySelector('.table-viewport');
  const work = [];
  for (let i = 0; i < frames; i++) {
    await new Promise((r) => requestAnimationFrame(r));
    const t = performance.now();
    vp.scrollTop += step;
    vp.dispatchEvent(new Event('scroll'));
    await new Promise((r) => requestAnimationFrame(r));
    work.push(performance.now() - t);
  }
  return {work, rows: Number(document.querySelector('.grid').getAttribute('aria-rowcount')) - 1};
}"""


def drag(page, box: dict) -> None:
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y + 5, steps=12)
    page.mouse.up()


def record_drag(page, target, box: dict) -> list[float]:
    """Frame intervals (ms) from just before a drag-to-zoom until it settled."""
    target.evaluate(FRAME_RECORDER)
    time.sleep(0.2)
    drag(page, box)
    time.sleep(1.0)
    return target.evaluate("() => { window.__stop = true; return window.__frames.slice(1); }")


def open_tab(browser, base: str, hash_: str, done: str):
    """(context, page, seconds from navigation until `done` held) for a fresh page."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(base + "/" + hash_)
    page.wait_for_function(done, polling="raf", timeout=300_000)
    return context, page, page.evaluate("performance.now()") / 1000


def select_trials(page, n: int) -> None:
    """Selects the first `n` trials of the search table, as a keyboard user would."""
    viewport = page.frame_locator("iframe").locator(".search-viewport")
    viewport.focus()
    viewport.press("Home")
    for i in range(n):
        if i:
            viewport.press("ArrowDown")
        viewport.press(" ")


def measure_ours(browser, base: str) -> dict:
    context, page, first_render = open_tab(browser, base, "#callback_events", OURS_DONE)
    frame = page.main_frame.child_frames[0]
    ui = page.frame_locator("iframe")
    if ui.locator(".search-card").is_visible():
        select_trials(page, SELECTED_TRIALS)
        page.wait_for_function(OURS_DONE, polling="raf", timeout=300_000)
    drawn = frame.evaluate("Number(document.querySelector('.timeline-plot').dataset.drawn)")
    zoom_ms = [frame.evaluate(ZOOM_STEP, key) for key in "+-+-+-"]
    box = page.frame_locator("iframe").locator(".chart-plot .u-over").first.bounding_box()
    frames = record_drag(page, frame, box)
    scroll = frame.evaluate(TABLE_SCROLL, [120, 1500])
    context.close()
    return {
        "first_render": first_render,
        "drawn_events": drawn,
        "zoom_script_ms": zoom_ms,
        "frames": frames,
        "table_rows": scroll["rows"],
        "scroll_frames": scroll["work"],
    }


def measure_timeseries(browser, base: str) -> dict:
    context, page, first_render = open_tab(browser, base, "#timeseries", TIMESERIES_DONE)
    box = page.locator("scalar-card line-chart").first.bounding_box()
    frames = record_drag(page, page, box)
    context.close()
    return {"first_render": first_render, "frames": frames}


def worst_frame(frames: list[float]) -> float:
    return max(frames) if frames else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    default_logdir = os.path.join(tempfile.gettempdir(), "tb_callbacks_bench_frontend")
    parser.add_argument("--logdir", default=default_logdir)
    parser.add_argument("--load-fast", default="true", choices=["true", "false"])
    args = parser.parse_args()

    marker = os.path.join(args.logdir, "COMPLETE")
    wanted = {"runs": args.runs, "events": args.events, "points": args.points}
    found = None
    if os.path.exists(marker):
        with open(marker) as f:
            found = json.load(f)
    if found != wanted:
        shutil.rmtree(args.logdir, ignore_errors=True)
        t = time.perf_counter()
        write_logdir(args.logdir, args.runs, args.events, args.points)
        print(f"wrote {args.logdir} in {time.perf_counter() - t:.1f}s")

    from playwright.sync_api import sync_playwright

    tb = TensorBoardProcess(args.logdir, load_fast=args.load_fast == "true", reload_interval=5)
    try:
        t = time.perf_counter()
        wait_ingested(tb, args.runs, args.events)
        print(f"tensorboard ingested everything in {time.perf_counter() - t:.1f}s")
        with sync_playwright() as p:
            browser = launch(p)
            # Warm-up: the data server's caches and both pages' code.
            measure_ours(browser, tb.base)
            measure_timeseries(browser, tb.base)
            ours, theirs = [], []
            for _ in range(args.repeat):
                ours.append(measure_ours(browser, tb.base))
                theirs.append(measure_timeseries(browser, tb.base))
            browser.close()
    finally:
        tb.stop()
    report(args, ours, theirs)


def report(args: argparse.Namespace, ours: list[dict], theirs: list[dict]) -> None:
    med = statistics.median
    total_events = min(args.runs, SELECTED_TRIALS if args.runs > 6 else args.runs) * args.events
    for o in ours:
        if o["drawn_events"] != total_events:
            raise SystemExit(f"the timeline placed {o['drawn_events']} events, expected {total_events}")
    first_ours = med(o["first_render"] for o in ours)
    first_theirs = med(t["first_render"] for t in theirs)
    # Each repetition measures both tabs back to back: the median of those
    # ratios is steadier on a noisy machine than a ratio of medians.
    first_ratio = med(o["first_render"] / t["first_render"] for o, t in zip(ours, theirs, strict=True))
    zoom_script = med(ms for o in ours for ms in o["zoom_script_ms"])
    scroll_median = med(med(o["scroll_frames"]) for o in ours)
    scroll_worst = med(max(o["scroll_frames"]) for o in ours)
    frame_ours = med(worst_frame(o["frames"]) for o in ours)
    frame_theirs = med(worst_frame(t["frames"]) for t in theirs)
    median_frame_ours = med(med(o["frames"]) for o in ours)
    median_frame_theirs = med(med(t["frames"]) for t in theirs)
    print(
        f"\n{args.runs} runs x {args.events} events, {args.runs * args.points:,} metric points; "
        f"medians of {args.repeat} runs (load_fast={args.load_fast})"
    )
    rows = [
        ("first complete render", f"{first_ours:.2f} s", f"{first_theirs:.2f} s", first_ratio),
        ("zoom: worst frame", f"{frame_ours:.0f} ms", f"{frame_theirs:.0f} ms", frame_ours / frame_theirs),
        ("zoom: median frame", f"{median_frame_ours:.0f} ms", f"{median_frame_theirs:.0f} ms", None),
        ("zoom step, script (all plots)", f"{zoom_script:.0f} ms", "-", None),
        (f"table scroll frame ({ours[0]['table_rows']:,} rows)", f"{scroll_median:.0f} ms", "-", None),
        ("table scroll: worst frame", f"{scroll_worst:.0f} ms", "-", None),
    ]
    pairs = ", ".join(
        f"{o['first_render']:.2f}/{t['first_render']:.2f}" for o, t in zip(ours, theirs, strict=True)
    )
    print(f"first render per repetition (ours/Time Series, s): {pairs}")
    print(f"{'':36}{'Callback Events':>17}{'Time Series':>14}{'ratio':>8}")
    for name, a, b, ratio in rows:
        print(f"{name:36}{a:>17}{b:>14}{'' if ratio is None else f'{ratio:.2f}x':>8}")
    print(
        "\nTime Series draws in a worker (OffscreenCanvas): its frames are the page's main thread only,"
        " and its render is counted done when the data is in and the spinner gone."
    )


if __name__ == "__main__":
    main()
