"""Symlinked run folders: the readers and the CLI list the runs TensorBoard lists, and a loop ends."""

from __future__ import annotations

import os

import pytest
from tb_server import tensorboard

from tb_callbacks_plugin import EventWriter, read_events
from tb_callbacks_plugin.cli import main as cli

T0 = 1_700_000_000.0


def _run(path, count: int) -> None:
    with EventWriter(str(path)) as writer:
        for i in range(count):
            writer.write("custom", i, f"event {i}", wall_time=T0 + i)


def _logdir(root, *, loop: bool):
    """logs/real/train; logs/linked -> an experiment folder elsewhere; logs/real/lnrun -> a run folder
    elsewhere; logs/real/train/copy.tfevents -> an event file elsewhere; with `loop`,
    logs/real/loop -> logs/real (its own parent)."""
    _run(root / "logs" / "real" / "train", 2)
    _run(root / "elsewhere" / "exp" / "train", 3)
    _run(root / "elsewhere" / "exp" / "validation", 1)
    _run(root / "elsewhere" / "run", 4)
    os.symlink(root / "elsewhere" / "exp", root / "logs" / "linked")
    os.symlink(root / "elsewhere" / "run", root / "logs" / "real" / "lnrun")
    if loop:
        os.symlink(root / "logs" / "real", root / "logs" / "real" / "loop")
    return root / "logs"


EXPECTED = {"linked/train": 3, "linked/validation": 1, "real/lnrun": 4, "real/train": 2}


def _counts(events) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event.run] = counts.get(event.run, 0) + 1
    return counts


def _served_runs(tb) -> dict[str, int]:
    def runs():
        found = {r["run"]: r["count"] for r in tb.plugin_json("runs")["runs"]}
        if sum(found.values()) < sum(EXPECTED.values()):
            return None
        # On the Python loader the plugin reads the files itself and can list a
        # run before TensorBoard's reload has found its folder: wait for both.
        return found if set(tb.get_json("/data/runs")) >= set(found) else None

    found = tb.wait_for(runs, timeout=90)
    assert set(tb.get_json("/data/runs")) == set(found)
    return found


@pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
def test_symlinked_runs_are_read_as_tensorboard_reads_them(tmp_path, load_fast, capsys, shared_tensorboards):
    # The links are absolute: the logdir can move under the shared root.
    logdir = shared_tensorboards.publish(_logdir(tmp_path, loop=False), f"symlinks_{load_fast}")
    assert _served_runs(shared_tensorboards.view(logdir, load_fast=load_fast)) == EXPECTED
    assert _counts(read_events(logdir)) == EXPECTED
    assert cli.main(["events", str(logdir), "--format", "jsonl"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert {line.split('"run":"', 1)[1].split('"', 1)[0] for line in printed} == set(EXPECTED)


def test_a_symlink_loop_is_skipped_as_the_data_server_skips_it(tmp_path, capsys):
    """A link to its own parent: TensorBoard's data server reports the loop and
    skips it; so do the readers (the Python loader follows it 40 levels deep,
    until the system refuses, and lists each level as a run)."""
    logdir = _logdir(tmp_path, loop=True)
    # A server of its own: the shared Python loader would list the loop's 40 levels.
    with tensorboard(str(logdir), load_fast=True, tensorflow=False) as tb:
        assert _served_runs(tb) == EXPECTED
    assert _counts(read_events(logdir)) == EXPECTED
    assert cli.main(["summary", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert "linked" in out and "loop" not in out
