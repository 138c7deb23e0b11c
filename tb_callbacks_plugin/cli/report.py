"""`tb-callbacks report`: the Callback Events tab as one self-contained HTML file.

The page is the tab's own bundle (`server/static/index.js` and `index.css`,
inlined) with the answers of the plugin's routes inlined beside it as JSON in
a `<script type="application/json">` element, which the bundle's data source
reads instead of fetching (frontend/src/report_data.ts). The answers have the
routes' shapes: `runs` as `GET runs` gives it, each run's `GET events`, and
each run's series as `GET scalars` gives them, reduced by the server's own
reduction (`eventfiles.scalar_series`, which the plugin's scalars route
uses too) so that a long series stays a few thousand points. Where an
experiment had several fits, a series also holds each point's `fit`, read
from the point's event file (`point_fits`), which TensorBoard's answers
cannot tell when fits ran at the same time.

The page's Content-Security-Policy allows no connection at all, and only the
one inline script whose hash it names: hostile event text stays text even
if some code path were to put it into markup.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

import tb_callbacks_plugin
from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli.experiments import file_rule
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import fits, scalar_series

# The built bundle: files of the server's data directory, read as files
# (the cli layer imports no server module).
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(tb_callbacks_plugin.__file__)), "server", "static")

DATA_ELEMENT_ID = "tb-callbacks-report"
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def event_answer(event: Event) -> dict[str, Any]:
    """One event as the `events` route serves it (strict JSON: non-finite numbers as strings).

    `writer` is an opaque key of the writer that wrote it, as the route's: the
    route has TensorBoard's tags (which name the writer), the reader has files
    and gives each file's events their fit within the run (`fits.FitRule`, a
    fit is one writer's file), so here the key is that fit: it groups the
    events alike.
    """
    return {
        "kind": event.kind,
        "step": event.step,
        "epoch": event.epoch,
        "wall_time": event.wall_time if math.isfinite(event.wall_time) else 0.0,
        "source": event.source,
        "message": event.message,
        "data": conventions.name_nonfinite(event.data),
        "writer": f"fit-{event.fit}",
    }


def _epoch_records(
    group: Iterable[str], epochs: Mapping[str, list[tuple[int, int, float]]]
) -> list[tuple[int, int, float]]:
    """Every (epoch, step, wall time) epoch end of the group's runs (what the scalars route maps with)."""
    return [record for run in group for record in epochs.get(run, ())]


# run -> tag -> {(step, wall time): fit} of each metric point
PointFits = dict[str, dict[str, dict[tuple[int, float], int]]]


def point_fits(runs: Mapping[str, Sequence[str]], events: Sequence[Event]) -> PointFits:
    """The fit of each metric point of the runs of experiments with several fits, by its event file.

    A fit is one writer's file (`fits.FitRule`): two processes fitting into
    one log_dir at once write the same tag into one run, and TensorBoard's
    series (which the tab reads) carry no file, so the report, which reads
    the files, tells the tab whose each point is (the scalars answers' `fit`).
    Fits are numbered as the tab numbers them: by the experiment's
    `train_begin` times.
    """
    from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics, add_file

    by_experiment: dict[str, list[Event]] = {}
    for event in events:
        by_experiment.setdefault(conventions.experiment_of(event.run or "."), []).append(event)
    out: PointFits = {}
    for experiment, listed in by_experiment.items():
        starts = fits.fit_starts(listed)
        if len(starts) < 2:
            continue
        members = sorted(run for run in runs if conventions.experiment_of(run) == experiment)
        metrics = {run: RunMetrics(run=run) for run in members}
        for run in members:
            for path in sorted(runs[run]):
                add_file(metrics[run], path)
        rule = file_rule(members, metrics, starts)
        if rule is None:
            continue
        for run, m in metrics.items():
            for tag, points in m.points.items():
                files = m.point_files.get(tag, [])
                if len(files) == len(points):
                    out.setdefault(run, {})[tag] = {
                        (step, wall_time): rule.fit(path, wall_time)
                        for (step, wall_time, _), path in zip(points, files, strict=True)
                    }
    return out


def report_data(
    run_names: Sequence[str],
    events: Sequence[Event],
    scalars: dict[str, Any],
    *,
    title: str,
    warnings: Mapping[str, Sequence[str]] | None = None,
    fits_of_points: PointFits | None = None,
) -> dict[str, Any]:
    """The inlined answers: `{"title", "runs": <runs answer>, "events": {run: <events answer>},
    "scalars": {run: {tag: <scalars answer>}}}`.

    Runs are those with callback events or epoch records, as the plugin lists
    them; their siblings' series are included for the charts. `warnings`
    holds what reading each run skipped (damaged records), shown as the tab
    shows the server's. `fits_of_points` (`point_fits`) adds a `fit` per
    point to the series of experiments with several fits.
    """
    warnings = warnings or {}
    by_run: dict[str, list[Event]] = {}
    for event in events:
        by_run.setdefault(event.run or ".", []).append(event)
    epochs = scalars["epochs"]
    listed = sorted({*by_run, *(run for run, ends in epochs.items() if ends)})
    tags_of: dict[str, list[str]] = {}
    slices: dict[tuple[str, str], np.ndarray] = {}
    run_code, tag_code = scalars["run_code"], scalars["tag_code"]
    if len(run_code):
        # Rows are sorted by run then tag: each series is one contiguous slice.
        key = run_code.astype(np.int64) * (len(scalars["tag"]) + 1) + tag_code
        cuts = np.flatnonzero(np.diff(key)) + 1
        for begin, end in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [len(key)])), strict=True):
            run, tag = scalars["run"][run_code[begin]], scalars["tag"][tag_code[begin]]
            if conventions.is_outcome_tag(tag):
                continue  # one point per fit, not a curve: the server's tags leave it out too
            tags_of.setdefault(run, []).append(tag)
            slices[(run, tag)] = np.arange(begin, end)
    all_runs = sorted(set(run_names) | set(listed))
    groups = scalar_series.sibling_groups(listed, all_runs)
    runs_answer = []
    series_answers: dict[str, dict[str, Any]] = {}
    for run in listed:
        group = groups[run]
        scalar_tags = {name: tags_of.get(name, []) for name in group if name == run or tags_of.get(name)}
        kinds: dict[str, int] = {}
        for event in by_run.get(run, ()):
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        runs_answer.append(
            {
                "run": run,
                "experiment": conventions.experiment_of(run),
                "count": len(by_run.get(run, ())),
                "kinds": dict(sorted(kinds.items())),
                "warnings": list(warnings.get(run, ())),
                "scalar_tags": scalar_tags,
            }
        )
        for name, tags in scalar_tags.items():
            if name in series_answers:
                continue
            series_answers[name] = {}
            # `name` is of `run`'s experiment: its siblings are `group` (one grouping
            # of every run, not one scan of them per run: quadratic at 3,000 trials).
            records = _epoch_records(group, epochs)
            for tag in tags:
                rows = slices[(name, tag)]
                x = scalar_series.x_axis(tag)
                epoch_records = records if x == "epoch" and records else None
                if epoch_records:
                    # Written order, as the plugin reads a series (each fit of
                    # the directory numbers its epochs from 0 again); the
                    # frame's rows are sorted by step.
                    rows = rows[np.argsort(scalars["wall_time"][rows], kind="stable")]
                reduced = scalar_series.reduced_series(
                    scalars["step"][rows],
                    scalars["wall_time"][rows],
                    scalars["value"][rows],
                    epoch_records=epoch_records,
                )
                series_answers[name][tag] = {"run": name, "tag": tag, "x": x, **reduced}
                known = (fits_of_points or {}).get(name, {}).get(tag)
                if known:
                    series_answers[name][tag]["fit"] = [
                        known.get((step, wall_time)) if wall_time is not None else None
                        for step, wall_time in zip(reduced["step"], reduced["wall_time"], strict=True)
                    ]
    return {
        "title": title,
        "runs": {"runs": runs_answer},
        "events": {
            run: {
                "run": run,
                "warnings": list(warnings.get(run, ())),
                "events": [event_answer(e) for e in by_run.get(run, ())],
            }
            for run in listed
        },
        "scalars": series_answers,
    }


def _script_safe(text: str, what: str) -> str:
    """`text` for the inside of a <script> element: it must not end the element early."""
    lowered = text.lower()
    if "<!--" in lowered or "<script" in lowered:
        raise ValueError(f"{what} holds '<!--' or '<script', which would change how the page parses")
    # "</script" can only sit in a string, template or regex literal, where "<\/" means the same.
    return text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def render_html(data: dict[str, Any], *, static_dir: str = STATIC_DIR) -> str:
    """The whole page: bundle, styles and data inlined."""
    with open(os.path.join(static_dir, "index.js"), encoding="utf-8") as f:
        script = _script_safe(f.read(), "index.js")
    with open(os.path.join(static_dir, "index.css"), encoding="utf-8") as f:
        css = f.read().replace("</style", "<\\/style")
    # JSON is inert in this element; escaping "<", ">" and "&" keeps any
    # text (a message holding "</script>") from ending it.
    payload = _ENCODER.encode(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; "
        "img-src data:; "
        "connect-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(data.get('title') or 'Callback Events')}</title>\n"
        f"<style>\n{css}\n</style>\n"
        f'<script type="application/json" id="{DATA_ELEMENT_ID}">{payload}</script>\n'
        f'<script type="module">{script}</script>\n'
        "</head>\n<body></body>\n</html>\n"
    )
