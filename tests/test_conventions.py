"""The shared naming rules (tb_callbacks_plugin/conventions.py), and that they have no copies."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

from tb_callbacks_plugin import conventions
from tb_callbacks_plugin.cli import experiments, formatting
from tb_callbacks_plugin.event_format import Event
from tb_callbacks_plugin.eventfiles import scalar_series
from tb_callbacks_plugin.eventfiles.scalar_reader import RunMetrics, Series
from tb_callbacks_plugin.server import event_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("run", "experiment"),
    [
        ("exp/train", "exp"),
        ("exp/validation", "exp"),
        ("exp/eval", "exp"),
        ("exp/evaluation", "exp"),
        ("exp", "exp"),
        ("exp/custom", "exp/custom"),
        ("a/b/train", "a/b"),
        ("train", "."),
        ("validation", "."),
        (".", "."),
        ("trainer", "trainer"),
        ("exp/train/deeper", "exp/train/deeper"),
    ],
)
def test_experiment_of(run, experiment):
    assert conventions.experiment_of(run) == experiment


def test_run_label_tells_runs_of_one_experiment_apart():
    assert [conventions.run_label(r) for r in ("exp", "exp/train", "exp/eval", "validation", "x/y")] == [
        "",
        "train",
        "eval",
        "validation",
        "",
    ]


def test_cli_summary_and_plugin_siblings_group_runs_alike():
    runs = ["exp", "exp/train", "exp/validation", "exp/eval", "exp/custom", "train", "validation", "other"]
    siblings = scalar_series.sibling_groups(runs, runs)
    metrics = {r: RunMetrics(run=r, scalars={"epoch_loss": Series([0], [1.0])}) for r in runs}
    summary = {line.experiment for line in experiments.summarize(runs, [], metrics)}
    assert summary == {conventions.experiment_of(r) for r in runs} == {"exp", "exp/custom", ".", "other"}
    for run in runs:
        assert siblings[run] == [r for r in sorted(runs) if experiments_equal(r, run)]


def experiments_equal(a: str, b: str) -> bool:
    return conventions.experiment_of(a) == conventions.experiment_of(b)


def test_epoch_tags_and_keras_log_keys():
    assert conventions.epoch_tag("loss") == "epoch_loss"
    assert conventions.is_epoch_tag("epoch_loss") and not conventions.is_epoch_tag("batch_loss")
    assert not conventions.is_epoch_tag("evaluation_loss_vs_iterations")
    assert conventions.split_logs_key("val_accuracy") == ("validation", "accuracy")
    assert conventions.split_logs_key("loss") == ("train", "loss")
    assert scalar_series.x_axis("epoch_loss") == "epoch"


def test_nonfinite_names_are_what_javascript_prints_and_every_writer_uses_them():
    assert [conventions.nonfinite_name(v) for v in (math.nan, math.inf, -math.inf)] == [
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    # String(NaN), String(Infinity), String(-Infinity) in JavaScript.
    assert conventions.NONFINITE_NAMES == ("NaN", "Infinity", "-Infinity")
    value = {"a": [math.nan, (math.inf, 1.5)], "b": -math.inf, "c": "NaN", "d": 2}
    named = {"a": ["NaN", ["Infinity", 1.5]], "b": "-Infinity", "c": "NaN", "d": 2}
    assert conventions.name_nonfinite(value) == named
    assert json.loads(formatting.strict_dumps(value)) == named
    event = Event(run="r", kind="k", step=1, epoch=None, wall_time=1.0, source=None, message="", data=value)
    assert json.loads(event_store.event_json(event))["data"] == named


# ---------------------------------------------------------------- no copies of the rules

# String constants that spell one of the rules; outside conventions.py they
# mean someone wrote a rule again instead of asking conventions.
_RULE_WORDS = {"epoch_", "val_", "NaN", "Infinity", "-Infinity", "train", "validation", "eval", "evaluation"}


def _rule_constants(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
            if text in _RULE_WORDS or text.startswith("epoch_"):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {text!r}")
    return found


def test_the_rules_are_spelled_only_in_conventions():
    paths = [
        p
        for package in ("tb_callbacks_plugin", "callbacks")
        for p in sorted((ROOT / package).rglob("*.py"))
        if p.name != "conventions.py"
    ]
    assert len(paths) > 30
    assert [hit for p in paths for hit in _rule_constants(p)] == []


def test_the_copy_finder_finds_a_copy(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text('"""Doc mentions epoch_loss."""\nTAG = "epoch_loss"\nNAME = "Infinity"\nOK = "epochs"\n')
    assert _rule_constants(copy, tmp_path) == ["copy.py:2: 'epoch_loss'", "copy.py:3: 'Infinity'"]
