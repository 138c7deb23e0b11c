"""Benchmark: the plugin serving a search of many trials, against
TensorBoard's own routes in the same run.

For each size (default 100 and 1,000 trials; `--runs 100,1000,3000` for the
issue's largest) a logdir is generated (bench/search_logdir.py: each trial
one run with ~20 callback events, epoch records and a 200-epoch
`epoch_loss`) and, beside it, the baseline: the same runs with the same
scalars and hyperparameters but no callback events, as
`keras.callbacks.TensorBoard` leaves them. Logdirs are kept under `--cache`
(written once). For each loader, on a fresh `tensorboard`:

- listed: seconds from start until TensorBoard's run list (`/data/runs`),
  its scalars plugin's tags (`/data/plugin/scalars/tags`, which needs the
  runs' data loaded) and our `runs` each list every run (polled each second);
- one run's events: median of `events?run=R` over 100 runs spread over the
  logdir, against TensorBoard's `scalars?run=R&tag=epoch_loss` for the same
  runs;
- the search view's load: `runs` + `many_events` + `many_scalars?tag=
  epoch_loss&points=100` (three requests for every trial), against one
  `events` request per run (what the tab did before);
- memory: resident memory of the `tensorboard` process and its data server
  after the above, minus the same for the baseline logdir after TensorBoard
  lists its scalars; per run. Also once every run is listed (before the
  search's reads): most of the difference is TensorBoard holding our
  records (each trial's events and an epoch record per epoch), which the
  baseline does not have;
- with `--browser`: the tab in Chromium (a warm-up page, then the one
  measured): seconds from navigation until the search table shows (rows,
  then every trial's metric), also counted from when our frame began
  (TensorBoard's own page takes seconds first, printed too); the script
  time of a sort and of a filter keystroke until the next frame (median of
  5); then 20 trials selected in the table and drawn, the frame intervals
  (requestAnimationFrame) while the charts zoom in and out a step a frame,
  and the work of one step (script, style and layout; median of 20).
  The first render's split, from our frame's resource timings and the
  tab's marks (`cbe:parsed:<route>`): for each request, when it was sent,
  the server's time to the first byte, the download, the bytes on the wire
  and unpacked, and when its JSON was parsed; then the rendering after the
  last answer. With `--old-bundle REV` the tab built at git revision REV
  (its committed `static/`) is timed too, alternating with this one on the
  same TensorBoard, page by page; ratios are printed (new / old).

Goals (issue 21): one run's events at 3,000 runs within 2x of 100 runs;
listed within 10 s of TensorBoard's run list; at most 0.15 MB per run over
the baseline; first render of a 3,000-trial search under 3 s, sorting and
filtering under 100 ms.

    .venv/bin/python bench/search.py [--runs 100,1000] [--load-fast true,false]
        [--browser | --browser-only] [--repeat N] [--old-bundle REV]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import urllib.parse
from collections.abc import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from plugin_routes import Client  # noqa: E402
from search_logdir import TAG, trial_name, write_search  # noqa: E402
from tb_server import TensorBoardProcess  # noqa: E402

PLUGIN = "/data/plugin/callback_events/"
EV = "events ms"
TBS = "TB scalars ms"


@contextlib.contextmanager
def started(logdir: str, load_fast: bool) -> Iterator[TensorBoardProcess]:
    """A `tensorboard` on `logdir`, given minutes to start on a busy machine."""
    tb = TensorBoardProcess(logdir, load_fast=load_fast, reload_interval=5, start_timeout=300)
    try:
        yield tb
    finally:
        tb.stop()


def logdir_of(cache: str, runs: int, baseline: bool) -> str:
    path = os.path.join(cache, f"search_{runs}{'_baseline' if baseline else ''}")
    done = os.path.join(path, ".complete")
    if not os.path.exists(done):
        start = time.monotonic()
        write_search(path, runs, baseline=baseline)
        open(done, "w").close()
        print(f"  wrote {path} in {time.monotonic() - start:.0f}s")
    return path


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants (the Rust data server), MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def wait_listed(tb: TensorBoardProcess, runs: int, ours: bool, timeout: float = 1800) -> dict[str, float]:
    """Seconds from now until each listing names every run."""
    start = time.monotonic()
    checks = {
        "TB run list": lambda: len(tb.get_json("/data/runs")) >= runs,
        "TB scalars tags": lambda: (
            sum(TAG in t for t in tb.get_json("/data/plugin/scalars/tags").values()) >= runs
        ),
    }
    if ours:
        checks["our runs"] = lambda: len(tb.plugin_json("runs")["runs"]) >= runs
    found: dict[str, float] = {}
    while len(found) < len(checks):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not listed in {timeout}s: {found}")
        for name, check in checks.items():
            if name not in found:
                try:
                    if check():
                        found[name] = time.monotonic() - start
                except (AssertionError, OSError, ValueError):
                    pass
        time.sleep(1)
    return found


def median_ms(client: Client, paths: list[str]) -> float:
    times = []
    for path in paths:
        elapsed, status, _ = client.get(path)
        assert status == 200, (path, status)
        times.append(elapsed)
    return statistics.median(times) * 1000


SORT_MS = """async (column) => {
  const t = performance.now();
  document.querySelector(`button[data-column=${column}]`).click();
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - t;
}"""

FILTER_MS = """async (text) => {
  const box = document.querySelector('.search-filter');
  const t = performance.now();
  box.value = text;
  box.dispatchEvent(new Event('input'));
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - t;
}"""

ROWS_SHOWN = """() => Boolean(document.querySelector('iframe')?.contentDocument
  ?.querySelector('.search-row[data-trial]'))"""
TABLE_DONE = """() => document.querySelector('iframe')?.contentDocument
  ?.querySelector('.search-card')?.dataset.loading === 'false'"""


# Seconds from the top page's navigation until our frame's document began:
# TensorBoard's own page loading, before the tab can do anything.
FRAME_START = """() => (document.querySelector('iframe').contentWindow.performance.timeOrigin
  - performance.timeOrigin) / 1000"""

# Frame intervals (ms) while the charts zoom in and out one step a frame
# (programmatic: the chart's own + and - keys), 40 frames.
ZOOM_FRAMES = """async () => {
  const el = document.querySelector('.chart-plot');
  const frames = [];
  let last = await new Promise((r) => requestAnimationFrame(r));
  for (let i = 0; i < 40; i++) {
    el.dispatchEvent(new KeyboardEvent('keydown', {key: i % 8 < 4 ? '+' : '-', bubbles: true}));
    const t = await new Promise((r) => requestAnimationFrame(r));
    frames.push(t - last);
    last = t;
  }
  return frames;
}"""


# The work of one zoom step (ms): the key's handler and every plot's redraw
# (committed in a microtask), then the style and layout they leave, from a
# frame's start. Frame intervals cannot show it: they are whole display
# refreshes (16.7 ms at 60 Hz) whenever the work fits in one.
ZOOM_WORK = """async (key) => {
  const el = document.querySelector('.chart-plot');
  await new Promise((r) => requestAnimationFrame(r));
  const t = performance.now();
  el.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  await Promise.resolve();
  await Promise.resolve();
  void document.body.offsetHeight;
  return performance.now() - t;
}"""


def zoom_frames(page, frame) -> tuple[float, float, int, float, float]:
    """(median, worst frame ms, events drawn, median and worst work of a
    zoom step ms) zooming with 20 trials' charts drawn."""
    from frontend_render import SELECTED_TRIALS, select_trials

    select_trials(page, SELECTED_TRIALS)
    page.wait_for_function(
        """() => document.querySelector('iframe').contentDocument
          .querySelector('.cbe-app')?.dataset.state === 'ready'""",
        polling="raf",
        timeout=600_000,
    )
    drawn = frame.evaluate("Number(document.querySelector('.timeline-plot').dataset.drawn)")
    frames = frame.evaluate(ZOOM_FRAMES)
    work = [frame.evaluate(ZOOM_WORK, key) for key in "+-" * 10]
    return statistics.median(frames), max(frames), drawn, statistics.median(work), max(work)


# The first render's requests and parse marks, in ms from our frame's start.
SPLIT = """() => {
  const out = {};
  const routes = ['runs', 'many_events', 'many_scalars', 'hparams', 'events'];
  for (const e of performance.getEntriesByType('resource')) {
    const path = new URL(e.name).pathname;
    const route = routes.find((r) => path.endsWith('/callback_events/' + r));
    if (!route || out[route]) continue;
    out[route] = {sent: e.startTime, server: e.responseStart - e.requestStart,
      download: e.responseEnd - e.responseStart, done: e.responseEnd,
      wire: e.encodedBodySize, body: e.decodedBodySize};
  }
  for (const m of performance.getEntriesByType('mark')) {
    const route = m.name.startsWith('cbe:parsed:') && m.name.slice(11);
    const found = route && out[route];
    if (found && found.parsed === undefined) found.parsed = m.startTime - found.done;
  }
  return out;
}"""

SPLIT_FIELDS = (
    ("sent", "sent ms"),
    ("server", "server ms"),
    ("download", "download ms"),
    ("parsed", "parse ms"),
    ("wire", "KB gzip'd"),
    ("body", "KB"),
)


def bundle_dir(rev: str) -> str:
    """The built tab (`static/`) committed at git revision `rev`, in a folder of its own."""
    import subprocess
    import tempfile

    out = tempfile.mkdtemp(prefix=f"tb_cbe_bundle_{rev[:12]}_")
    for name in ("index.js", "index.css"):
        blob = subprocess.run(
            ["git", "show", f"{rev}:tb_callbacks_plugin/server/static/{name}"],
            cwd=os.path.join(HERE, ".."),
            check=True,
            capture_output=True,
        ).stdout
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
    return out


def serve_bundle(page, folder: str) -> None:
    """The tab's static files answered from `folder` (another build of the tab)."""

    def answer(route):
        name = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return route.continue_()
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        with open(path, "rb") as f:
            route.fulfill(status=200, body=f.read(), headers={"Content-Type": kind})

    page.route("**/data/plugin/callback_events/static/**", answer)


def one_page(browser, tb: TensorBoardProcess, bundle: str | None, zoom: bool) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    if bundle is not None:
        serve_bundle(page, bundle)
    page.goto(tb.base + "/#callback_events")
    page.wait_for_function(ROWS_SHOWN, polling="raf", timeout=600_000)
    rows = page.evaluate("performance.now()") / 1000
    page.wait_for_function(TABLE_DONE, polling="raf", timeout=600_000)
    done = page.evaluate("performance.now()") / 1000
    frame_start = page.evaluate(FRAME_START)
    frame = page.main_frame.child_frames[0]
    split = frame.evaluate(SPLIT)
    sort = [frame.evaluate(SORT_MS, column) for column in ("duration", "best", "ending", "trial", "final")]
    typed = [frame.evaluate(FILTER_MS, text) for text in ("t", "tr", "trial_1", "trial_12", "")]
    result = {
        "render: TensorBoard's page before our frame s": frame_start,
        "render: table rows s": rows,
        "render: table with metric s": done,
        "render: table rows, from our frame s": rows - frame_start,
        "render: table with metric, from our frame s": done - frame_start,
        "render: sort ms": statistics.median(sort),
        "render: filter ms": statistics.median(typed),
    }
    last = 0.0
    for route, timing in sorted(split.items()):
        for field, label in SPLIT_FIELDS:
            value = timing.get(field)
            if value is not None:
                result[f"split: {route} {label}"] = value / 1000 if label.startswith("KB") else value
        last = max(last, timing["done"] + timing.get("parsed", 0))
    result["split: our work after the last answer parsed ms"] = (done - frame_start) * 1000 - last
    if zoom:
        median, worst, drawn, work, worst_work = zoom_frames(page, frame)
        result.update(
            {
                "zoom, 20 trials: median frame ms": median,
                "zoom, 20 trials: worst frame ms": worst,
                "zoom, 20 trials: events drawn": drawn,
                "zoom, 20 trials: a step's work, median ms": work,
                "zoom, 20 trials: a step's work, worst ms": worst_work,
            }
        )
    page.close()
    return result


def render_times(tb: TensorBoardProcess, repeat: int = 1, old_bundle: str | None = None) -> dict[str, float]:
    """The search view in Chromium: first render (and its split), sort and
    filter, zoom frames with 20 trials drawn (each the median of `repeat`
    pages, after a warm-up page); with `old_bundle` (a folder of another
    build of the tab) the same for it, page by page in turn, as `old: ...`."""
    from browser import launch
    from playwright.sync_api import sync_playwright

    builds = {"": None} if old_bundle is None else {"": static_dir(), "old: ": old_bundle}
    pages: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    with sync_playwright() as p:
        browser = launch(p)
        for attempt in range(repeat + 1):
            for name, folder in builds.items():
                found = one_page(browser, tb, folder, zoom=attempt > 0)
                if attempt:  # the first is the warm-up
                    pages[name].append(found)
        browser.close()
    result: dict[str, float] = {}
    for name, found in pages.items():
        keys = [k for k in found[0] if all(k in page for page in found)]
        result.update({name + k: statistics.median(page[k] for page in found) for k in keys})
    if old_bundle is not None:
        for key in [k for k in result if not k.startswith("old: ") and "old: " + k in result]:
            if result["old: " + key]:
                result["ratio new/old: " + key] = result[key] / result["old: " + key]
    return result


def static_dir() -> str:
    return os.path.join(HERE, "..", "tb_callbacks_plugin", "server", "static")


def browser_only(
    cache: str, runs: int, load_fast: bool, repeat: int, old_bundle: str | None = None
) -> dict[str, float]:
    """The tab's figures alone (no baseline, no route timings): quicker."""
    with started(logdir_of(cache, runs, False), load_fast) as tb:
        wait_listed(tb, runs, ours=True)
        return render_times(tb, repeat, old_bundle)


def bench(
    cache: str,
    runs: int,
    load_fast: bool,
    browser: bool = False,
    repeat: int = 1,
    old_bundle: str | None = None,
) -> dict[str, float]:
    logdir = logdir_of(cache, runs, False)
    baseline = logdir_of(cache, runs, True)
    result: dict[str, float] = {}
    with started(baseline, load_fast) as tb:
        wait_listed(tb, runs, ours=False)
        time.sleep(3)
        result["baseline MB"] = tree_rss_mb(tb.proc.pid)
    with started(logdir, load_fast) as tb:
        listed = wait_listed(tb, runs, ours=True)
        result.update({f"listed: {name} s": seconds for name, seconds in listed.items()})
        result["MB, listed (our records loaded, one runs answer)"] = tree_rss_mb(tb.proc.pid)
        client = Client(tb.port)
        sample = [urllib.parse.quote(trial_name(i * runs // 100) + "/train") for i in range(min(100, runs))]
        events = [f"{PLUGIN}events?run={run}" for run in sample]
        median_ms(client, events)  # decoded once
        result[EV] = median_ms(client, events)
        result[TBS] = median_ms(
            client, [f"/data/plugin/scalars/scalars?run={run}&tag={TAG}" for run in sample]
        )
        start = time.perf_counter()
        answers = [
            client.get(PLUGIN + route)
            for route in ("runs", "many_events", f"many_scalars?tag={TAG}&points=100")
        ]
        result["search load (3 requests) s"] = time.perf_counter() - start
        assert all(status == 200 for _, status, _ in answers), [a[1] for a in answers]
        result["search load MB gzip'd"] = sum(size for _, _, size in answers) / 1e6
        # What the tab's table needs now: the listing with each run's digest and the metric.
        start = time.perf_counter()
        answers = [
            client.get(PLUGIN + route) for route in ("runs?digest=1", f"many_scalars?tag={TAG}&points=64")
        ]
        result["table load (runs?digest=1 + many_scalars) s"] = time.perf_counter() - start
        assert all(status == 200 for _, status, _ in answers), [a[1] for a in answers]
        result["table load MB gzip'd"] = sum(size for _, _, size in answers) / 1e6
        start = time.perf_counter()
        for i in range(runs):
            elapsed, status, _ = client.get(f"{PLUGIN}events?run={urllib.parse.quote(trial_name(i))}/train")
            assert status == 200
        result["events run by run s"] = time.perf_counter() - start
        result["MB"] = tree_rss_mb(tb.proc.pid)
        if browser:
            result.update(render_times(tb, repeat, old_bundle))
    result["MB per run over baseline"] = (result["MB"] - result["baseline MB"]) / runs
    result["MB per run over baseline, listed"] = (
        result["MB, listed (our records loaded, one runs answer)"] - result["baseline MB"]
    ) / runs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", default="100,1000", help="trial counts, comma-separated")
    parser.add_argument("--load-fast", default="true,false", help="loaders: true, false or both")
    parser.add_argument("--cache", default=os.path.join("/tmp", "tb_callbacks_search_bench"))
    parser.add_argument("--browser", action="store_true", help="also time the tab in Chromium")
    parser.add_argument("--browser-only", action="store_true", help="time only the tab (implies --browser)")
    parser.add_argument("--repeat", type=int, default=1, help="pages measured in the browser (medians)")
    parser.add_argument(
        "--old-bundle",
        metavar="REV",
        help="also time the tab built at git revision REV, page by page in turn",
    )
    args = parser.parse_args()
    old_bundle = bundle_dir(args.old_bundle) if args.old_bundle else None
    sizes = [int(n) for n in args.runs.split(",")]
    table: dict[tuple[int, bool], dict[str, float]] = {}
    for load_fast in [v.strip() == "true" for v in args.load_fast.split(",")]:
        for runs in sizes:
            print(f"{runs} runs, --load_fast={str(load_fast).lower()}", flush=True)
            if args.browser_only:
                result = browser_only(args.cache, runs, load_fast, args.repeat, old_bundle)
            else:
                result = bench(args.cache, runs, load_fast, args.browser, args.repeat, old_bundle)
                table[(runs, load_fast)] = result
            for name, value in result.items():
                print(f"  {name:52} {value:10.3f}", flush=True)
    if args.browser_only:
        return
    print("\nsummary (ratios: ours / the same at the smallest size, ours / TensorBoard's)")
    for load_fast in sorted({lf for _, lf in table}):
        small = table[(sizes[0], load_fast)]
        for runs in sizes:
            r = table[(runs, load_fast)]
            print(
                f"  load_fast={str(load_fast).lower():5} {runs:5} runs: events {r[EV]:.2f} ms"
                f" ({r[EV] / small[EV]:.2f}x of {sizes[0]} runs;"
                f" TB scalars {r[TBS]:.2f} ms),"
                f" search load {r['search load (3 requests) s']:.2f} s vs run by run"
                f" {r['events run by run s']:.2f} s, listed {r['listed: our runs s']:.0f} s"
                f" (TB run list {r['listed: TB run list s']:.0f} s, TB scalars"
                f" {r['listed: TB scalars tags s']:.0f} s), {r['MB per run over baseline']:.3f} MB/run over"
                " baseline",
                flush=True,
            )


if __name__ == "__main__":
    main()
