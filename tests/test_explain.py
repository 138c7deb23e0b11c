"""tb_callbacks_plugin.explain: sentences and marks, and the shared cases explain.ts answers alike."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from needs import need

from tb_callbacks_plugin.explain import explain, monitor_source, num, threshold

CASES_FILE = Path(__file__).parent / "golden" / "explain_cases.json"
CASES = json.loads(CASES_FILE.read_text())


def _series(raw):
    return None if raw is None else {int(k): v for k, v in raw.items()}


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_shared_cases(case):
    assert explain(case["event"], _series(case["series"])) == case["expected"]


def test_shared_numbers():
    assert [[n, num(n)] for n, _ in CASES["numbers"]] == CASES["numbers"]


def _monitoring_cases():
    return [
        c
        for c in CASES["cases"]
        if c["expected"]
        and c["event"]["kind"] in ("early_stop", "lr_change")
        and not c["expected"]["detected"]
    ]


@pytest.mark.parametrize("case", _monitoring_cases(), ids=lambda c: c["name"])
def test_sentence_numbers_are_the_event_data(case):
    event, out = case["event"], explain(case["event"], _series(case["series"]))
    d, sentence = event["data"], out["sentence"]
    # Every number the sentence states is one of the event's, epochs counted from 1 as Keras's console.
    assert f"{d['wait']} epoch" in sentence
    assert f"{num(d['best'])}" in sentence
    if d.get("min_delta"):
        assert f"by more than {num(d['min_delta'])}" in sentence
    first, last = d["window_first_epoch"] + 1, d["window_last_epoch"] + 1
    assert (f"epochs {first}-{last}" if first != last else f"(epoch {first})") in sentence
    if out["metric_written"] is not False:
        assert out["window"] == [d["window_first_epoch"], d["window_last_epoch"]]
    if event["kind"] == "early_stop":
        assert sentence.count(f"stopped at epoch {event['epoch'] + 1}") == 1
        if "baseline" not in d:
            assert f"(epoch {d['best_epoch'] + 1})" in sentence
    else:
        assert f"{num(d['old'])} -> {num(d['new'])}" in sentence
    stated = {float(x) for x in re.findall(r"(?<!\d)-?\d+(?:\.\d+)?(?:e-?\d+)?", sentence)}
    allowed = {float(num(v)) for v in d.values() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    allowed |= {v + 1 for v in allowed}
    # Epochs of the cooldown span and the best's epoch found in the series are the only derived ones.
    if out["cooldown"]:
        allowed |= {out["cooldown"][0] + 1, out["cooldown"][1] + 1}
    if out["best"] and out["best"]["epoch"] is not None:
        allowed.add(out["best"]["epoch"] + 1)
    assert stated <= allowed, stated - allowed


def test_threshold_follows_the_mode():
    assert threshold(0.5, 0.01, "min") == pytest.approx(0.49)
    assert threshold(0.5, -0.01, "max") == pytest.approx(0.51)
    assert threshold(0.5, 0.01, None) is None


def test_monitor_source_finds_the_sibling_run():
    assert monitor_source("exp/train", "val_loss") == ("exp/validation", "epoch_loss")
    assert monitor_source("train", "accuracy") == ("train", "epoch_accuracy")
    assert monitor_source("exp", "val_loss") == ("exp/validation", "epoch_loss")


def test_unwritten_metric_draws_nothing():
    (case,) = [c for c in CASES["cases"] if "not written" in c["name"]]
    out = explain(case["event"], {})
    assert out["metric_written"] is False and "val_loss was not written" in out["sentence"]
    assert out["best"] is out["window"] is out["threshold"] is None
    looked_not = explain(case["event"], None)
    assert looked_not["metric_written"] is None and looked_not["window"] == [1, 1]


def test_detected_events_give_no_reason():
    for case in CASES["cases"]:
        out = case["expected"]
        if out and out["detected"]:
            assert out["sentence"].startswith("detected: ") and "did not improve" not in out["sentence"]
            assert out["threshold"] is None and out["window"] is None


FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
NODE_RUNNER = """
import fs from "node:fs";
import { explain, num } from "./explain.mjs";
const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const byEpoch = (raw) => Object.fromEntries(Object.entries(raw).map(([k, v]) => [Number(k), v]));
const series = (raw) => (raw === null ? null : byEpoch(raw));
process.stdout.write(JSON.stringify({
  cases: cases.cases.map((c) => explain(c.event, series(c.series))),
  numbers: cases.numbers.map(([n]) => [n, num(n)]),
}));
"""


def test_frontend_explain_answers_the_shared_cases_alike(tmp_path):
    """frontend/src/explain.ts, bundled by the frontend's own esbuild and run by Node, on the same cases."""
    need(shutil.which("node") is not None, "node is not installed")
    need((FRONTEND / "node_modules" / "esbuild").is_dir(), "frontend/node_modules is missing: run `npm ci`")
    bundle = tmp_path / "explain.mjs"
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [
            str(esbuild),
            "src/explain.ts",
            "--bundle",
            "--format=esm",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        cwd=FRONTEND,
        check=True,
        timeout=120,
    )
    (tmp_path / "run.mjs").write_text(NODE_RUNNER)
    done = subprocess.run(
        ["node", str(tmp_path / "run.mjs"), str(CASES_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(done.stdout)
    assert got["numbers"] == CASES["numbers"]
    for case, answer in zip(CASES["cases"], got["cases"], strict=True):
        assert answer == case["expected"], case["name"]
