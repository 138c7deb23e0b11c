"""`tb-callbacks report`: one HTML file that is the tab, offline, from file:// in Chromium."""

from __future__ import annotations

import json
import os
import re
import sys
import time

import numpy as np
import pytest
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_callbacks_plugin import EventWriter, read_events  # noqa: E402
from tb_callbacks_plugin.cli import main as cli  # noqa: E402
from tb_callbacks_plugin.cli import report  # noqa: E402
from tests.browser import CHROMIUM, available, launch  # noqa: E402
from tests.needs import need  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
LONG = 200_000  # points of one batch-level series: the report must carry a reduced one
T0 = 1_700_000_000.0


def _keras_scalar(tag: str, value: float) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.float32(value).tobytes(),
    )
    meta = scalar_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """A real fit with ReduceLROnPlateau, EarlyStopping and a user's hostile note, and a long series."""
    from keras_helpers import classifier, digits, seed

    from tb_callbacks_plugin import callbacks

    class Note(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.log_event("note", HOSTILE, html="<b>bold</b>", val_loss=float(logs["val_loss"]))

    root = tmp_path_factory.mktemp("report")
    seed(0)
    x, y = digits()
    classifier(lr=0.05).fit(
        x,
        y,
        validation_split=0.25,
        epochs=12,
        batch_size=64,
        verbose=0,
        callbacks=[
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=0.05),
            callbacks.EarlyStopping(monitor="val_loss", patience=3, min_delta=0.05),
            Note(),
            callbacks.TensorBoard(str(root / "adam")),
        ],
    )
    with EventWriter(str(root / "long" / "train")) as writer:
        rng = np.random.default_rng(0)
        values = np.exp(-np.arange(LONG) / 50_000) + rng.normal(0, 0.01, LONG)
        values[123_457] = 40.0  # a spike the reduction must keep
        for step, value in enumerate(values.tolist()):
            writer.write_summary(_keras_scalar("batch_loss", value), step, wall_time=T0 + step)
        writer.write("data.shard_done", 100_000, "half way", source="Loader", shard=1)
    return str(root)


@pytest.fixture(scope="module")
def page_file(logdir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("html") / "report.html")
    assert cli.main(["report", logdir, "-o", out, "--no-progress"]) == 0
    return out


def _data(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r'<script type="application/json" id="tb-callbacks-report">(.*?)</script>', text, re.S)
    assert match
    return json.loads(match.group(1))


def test_file_holds_every_event_and_reduced_series(logdir, page_file):
    data = _data(page_file)
    events = read_events(logdir)
    listed = {r["run"]: r["count"] for r in data["runs"]["runs"]}
    assert sum(listed.values()) == len(events) > 5
    for run, answer in data["events"].items():
        assert [e["message"] for e in answer["events"]] == [e.message for e in events if e.run == run]
    long = data["scalars"]["long/train"]["batch_loss"]
    assert long["total"] == LONG and len(long["step"]) <= 2000 and 123_457 in long["step"]
    assert long["value"][long["step"].index(123_457)] == 40.0
    # Epoch series carry the global step of each epoch (the plugin's epoch map).
    loss = data["scalars"]["adam/validation"]["epoch_loss"]
    assert loss["x"] == "epoch" and all(isinstance(s, int) for s in loss["global_step"])
    adam = next(r for r in data["runs"]["runs"] if r["run"] == "adam/train")
    assert set(adam["scalar_tags"]) == {"adam/train", "adam/validation"}
    assert os.path.getsize(page_file) < 5 * 2**20
    # The hostile text cannot end its element: no "</script" inside the data.
    with open(page_file, encoding="utf-8") as f:
        text = f.read()
    assert text.count("</script>") == 2


def test_bad_arguments(logdir, tmp_path, capsys):
    assert cli.main(["report", logdir, "-o", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "r.html")]) == 1


def test_script_breaking_text_in_the_bundle_is_refused():
    with pytest.raises(ValueError):
        report._script_safe("let a = '<!--'", "index.js")
    assert report._script_safe("s = '</script>'", "x") == "s = '<\\/script>'"


@pytest.mark.timeout(240)
def test_opens_offline_from_file_and_draws_the_tab(logdir, page_file, tmp_path):
    need(available(), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url = "file://" + page_file
    events = read_events(logdir)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            requests: list[str] = []
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            errors: list[str] = []
            dialogs: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation',"
                " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
            page.goto(url)
            page.wait_for_function(
                "() => document.querySelector('.cbe-app')?.dataset.state === 'ready'",
                polling=100,
                timeout=60_000,
            )
            ui = page.locator("body")
            rows = int(ui.locator(".grid").first.get_attribute("aria-rowcount")) - 1
            assert rows == len(events)
            assert int(ui.locator(".timeline-plot").first.get_attribute("data-drawn")) == len(events)
            # The charts are drawn: the loss chart has both of the fit's lines, on pixels.
            loss = ui.locator(".chart-card[data-tag=epoch_loss]")
            assert sorted(loss.locator(".legend-run").all_inner_texts()) == ["adam/train", "adam/validation"]
            blank = page.evaluate(
                "() => { const c = document.querySelector('.chart-card[data-tag=epoch_loss] canvas');"
                " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
            )
            assert blank > 100
            # Hostile text is text: in the table, the details and the tooltip's source.
            kind = page.locator("[data-col=kind]", has_text=re.compile(r"^note$"))
            row = ui.locator(".table-viewport .grid-row", has=kind).first
            assert row.locator("[data-col=message]").inner_text() == HOSTILE
            row.click()
            details = ui.locator(".details")
            details.wait_for()
            assert details.locator(".details-message").inner_text() == HOSTILE
            assert "<b>bold</b>" in details.locator(".data-list").inner_text()
            # Epochs for people count from 1, as Keras's console does: the note of epoch 1
            # (0-based, on_epoch_end's argument) is the console's "Epoch 2".
            (note,) = (e for e in events if e.kind == "note")
            assert note.epoch == 1
            assert row.locator("[data-col=epoch]").inner_text() == "2"
            epoch_label = details.locator(".fields dt", has_text=re.compile("^Epoch$"))
            assert epoch_label.locator("xpath=following-sibling::dd[1]").inner_text() == "2"
            assert page.evaluate("document.querySelectorAll('img, b').length") == 0
            time.sleep(0.5)  # an injected handler would have fired by now
            assert dialogs == []
            assert errors == []
            assert page.evaluate("window.__violations") == []
            # Nothing was asked of any network or file but the page itself.
            assert set(requests) == {url}, requests
            page.screenshot(path=str(tmp_path / "report.png"))
            context.close()
            _tooltip_is_text(browser, logdir, tmp_path)
        finally:
            browser.close()


def _tooltip_is_text(browser, logdir: str, tmp_path) -> None:
    """The tooltip of the note's marker (on a report of the fit alone, so markers are spread out)."""
    out = str(tmp_path / "adam.html")
    assert cli.main(["report", logdir, "-o", out, "--run", "^adam/", "--no-progress"]) == 0
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("file://" + out)
    page.wait_for_function(
        "() => document.querySelector('.cbe-app')?.dataset.state === 'ready'", polling=100, timeout=60_000
    )
    over = page.locator(".timeline-plot .u-over").bounding_box()
    kinds = page.locator(".side-section", has_text="Event kinds").locator(".label-text").all_inner_texts()
    y = over["y"] + over["height"] * (kinds.index("note") + 0.5) / len(kinds)
    tooltip = page.locator(".tooltip")
    for dx in range(0, int(over["width"]), 3):
        page.mouse.move(over["x"] + dx, y)
        if tooltip.is_visible():
            break
    assert tooltip.locator(".tooltip-message").inner_text() == HOSTILE
    assert page.evaluate("document.querySelectorAll('img, b').length") == 0
    assert errors == []
    context.close()


def test_tag_and_run_selection(logdir, tmp_path):
    out = str(tmp_path / "r.html")
    assert (
        cli.main(["report", logdir, "-o", out, "--run", "^adam/", "--tag", "^epoch_loss$", "--title", "T"])
        == 0
    )
    data = _data(out)
    assert data["title"] == "T · Callback Events"
    assert {run: sorted(tags) for run, tags in data["scalars"].items()} == {
        "adam/train": ["epoch_loss"],
        "adam/validation": ["epoch_loss"],
    }
    assert [r["run"] for r in data["runs"]["runs"]] == ["adam/train"]


@pytest.fixture(scope="module")
def two_fits(tmp_path_factory, shared_tensorboards):
    """Two fits into one log_dir (each numbering its epochs from 0), and a plain run."""
    from keras_helpers import classifier, digits, seed

    from tb_callbacks_plugin import callbacks

    root = tmp_path_factory.mktemp("two_fits")
    seed(0)
    x, y = digits()
    for lr in (0.05, 0.01):
        classifier(lr=lr).fit(
            x,
            y,
            validation_split=0.25,
            epochs=3,
            batch_size=64,
            verbose=0,
            callbacks=[callbacks.TensorBoard(str(root / "exp"))],
        )
    return str(shared_tensorboards.publish(root, "report_two_fits"))


def _groups(events: list[dict]) -> list[list[int]]:
    """Which events share a writer, as lists of their indices."""
    by_writer: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_writer.setdefault(event["writer"], []).append(i)
    return sorted(by_writer.values())


def _without_writer(answer: dict) -> dict:
    return {**answer, "events": [{k: v for k, v in e.items() if k != "writer"} for e in answer["events"]]}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("load_fast", [False, True])
def test_inlined_answers_are_the_plugins(two_fits, tmp_path, load_fast, shared_tensorboards):
    """What the report inlines is what a real tensorboard's routes answer, series reduction included."""
    from urllib.parse import quote

    out = str(tmp_path / "r.html")
    assert cli.main(["report", two_fits, "-o", out, "--no-progress"]) == 0
    data = _data(out)
    server = shared_tensorboards.view(two_fits, load_fast=load_fast)
    # Until every run's events and tags are loaded: the shared server reads a
    # published logdir over its reloads, a run's tags after its events at times.
    server.wait_for(lambda: server.plugin_json("runs")["runs"] == data["runs"]["runs"], timeout=120)
    runs = server.plugin_json("runs")["runs"]
    assert runs == data["runs"]["runs"]
    for entry in runs:
        answer = server.plugin_json(f"events?run={quote(entry['run'])}")
        inlined = data["events"][entry["run"]]
        # `writer` is an opaque key (the route's from TensorBoard's tags, the report's from the
        # files): the same grouping of the events, the same answer otherwise.
        assert _groups(answer["events"]) == _groups(inlined["events"])
        assert _without_writer(answer) == _without_writer(inlined)
        for name, tags in entry["scalar_tags"].items():
            for tag in tags:
                served = server.plugin_json(f"scalars?run={quote(name)}&tag={quote(tag)}")
                if load_fast:  # the data server keeps only the last fit's points of a restarted tag
                    assert served["total"] <= data["scalars"][name][tag]["total"]
                    continue
                inlined = dict(data["scalars"][name][tag])
                # The report adds each point's fit, read from its file (the route has no files).
                assert len(inlined.pop("fit")) == len(inlined["step"]), (name, tag)
                assert served == inlined, (name, tag)


def test_damaged_records_are_told_on_the_page_as_the_tab_tells_them(tmp_path, capsys):
    run_dir = tmp_path / "logs" / "exp" / "train"
    with EventWriter(run_dir) as writer:
        for i in range(6):
            writer.write("custom", i, f"message number {i}")
            writer.flush()
    (name,) = [f for f in os.listdir(run_dir) if "tfevents" in f]
    buf = bytearray((run_dir / name).read_bytes())
    buf[buf.index(b"message number 3") + 2] ^= 0xFF  # the record's CRC no longer matches
    (run_dir / name).write_bytes(bytes(buf))
    out = str(tmp_path / "r.html")
    assert cli.main(["report", str(tmp_path / "logs"), "-o", out, "--no-progress"]) == 0
    assert "corrupt bytes" in capsys.readouterr().err  # still said on stderr, as by every command
    data = _data(out)
    (listed,) = data["runs"]["runs"]
    assert listed["run"] == "exp/train" and listed["count"] == 5
    (said,) = listed["warnings"]
    assert said.startswith(f"{name}: ") and str(tmp_path) not in said  # no path of this machine
    assert data["events"]["exp/train"]["warnings"] == [said]
    assert [e["message"] for e in data["events"]["exp/train"]["events"]] == [
        f"message number {i}" for i in (0, 1, 2, 4, 5)
    ]
