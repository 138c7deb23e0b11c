"""What a restart keeps (README, "Restarts, resumes and crashes"): a second
`fit` into the same log_dir and a BackupAndRestore resume keep every earlier
event, store and serve each event once, and the plugin serves the same events as
`read_events` on both TensorBoard loaders. Metric curves are whatever
TensorBoard kept, which differs per loader; the test pins that down too, so
that the rule's description of it stays true.

Four real training processes, in two waves:
- `restart`: process A runs two fits of one model with one
  `callbacks.TensorBoard` (steps continue: 0..15, then 15..30); process B, a
  fresh model, then fits into the same log_dir (steps restart at 0).
- `backup`: process C (BackupAndRestore) is killed in epoch 2; process D
  runs the same script again and resumes at epoch 2 (step 10).
"""

from __future__ import annotations

import signal
import urllib.parse

import pytest
from test_faults import STEPS_PER_EPOCH, assert_served_as_read, read_quietly, train_children

pytestmark = pytest.mark.timeout(400)
LOADERS = pytest.mark.parametrize("load_fast", [True, False], ids=["load_fast", "python_loader"])
A_EPOCHS, B_EPOCHS, BACKUP_EPOCHS, KILLED_AT = 3, 2, 4, 2


@pytest.fixture(scope="module")
def logdir(tmp_path_factory, shared_tensorboards):
    """The four processes' logdir, published under the worker's shared
    TensorBoards (tests/conftest.py): a TensorBoard of its own per loader
    would be 15 s of CPU each to start."""
    root = tmp_path_factory.mktemp("restart")
    logs, backup = root / "logs", str(root / "backup")
    first = train_children(
        {
            "A": dict(log_dir=str(logs / "restart"), lr_schedule=True, epochs=A_EPOCHS, fits=2),
            "C": dict(
                log_dir=str(logs / "backup"),
                lr_schedule=True,
                epochs=BACKUP_EPOCHS,
                backup_dir=backup,
                # Killed once the writers' periodic flushes have put epoch 2's
                # lr_change on disk.
                kill={"when": "batch", "epoch": KILLED_AT, "batch": 2, "durable": True},
            ),
        }
    )
    assert first["A"][0] == 0, first["A"][1][-3000:]
    assert first["C"][0] == -signal.SIGKILL, first["C"][1][-3000:]
    second = train_children(
        {
            "B": dict(log_dir=str(logs / "restart"), lr_schedule=True, epochs=B_EPOCHS),
            "D": dict(
                log_dir=str(logs / "backup"), lr_schedule=True, epochs=BACKUP_EPOCHS, backup_dir=backup
            ),
        }
    )
    for name, (code, output) in second.items():
        assert code == 0, (name, output[-3000:])
    return shared_tensorboards.publish(logs, "restart")


def fits_of(events, run: str) -> list[list]:
    """The events of `run` split into fits (each starts with train_begin), in wall-time order."""
    fits: list[list] = []
    for event in sorted((e for e in events if e.run == run), key=lambda e: e.wall_time):
        if event.kind == "train_begin":
            fits.append([])
        fits[-1].append(event)
    return fits


def key(event) -> tuple:
    return (event.run, event.kind, event.step, event.epoch, event.wall_time, event.message)


# ---------------------------------------------------------------- read_events


def test_second_fits_keep_every_earlier_event_once(logdir):
    """Over 60 s as the file's first test: its time is the module fixture's four
    training processes (two waves, a TensorFlow import each), which every test
    of the file then reads."""
    events, warned = read_quietly(logdir)
    assert warned == []
    assert len({key(e) for e in events}) == len(events), "an event is read twice"
    fits = fits_of(events, "restart/train")
    assert len(fits) == 3
    expected = [(A_EPOCHS, 0), (A_EPOCHS, A_EPOCHS * STEPS_PER_EPOCH), (B_EPOCHS, 0)]
    for fit, (epochs, first_step) in zip(fits, expected, strict=True):
        assert [e.kind for e in fit] == ["train_begin"] + ["lr_change"] * epochs + ["train_end"]
        assert [e.epoch for e in fit if e.kind == "lr_change"] == list(range(epochs))
        assert [e.step for e in fit if e.kind == "lr_change"] == [
            first_step + STEPS_PER_EPOCH * i for i in range(epochs)
        ]
        assert fit[-1].step == first_step + epochs * STEPS_PER_EPOCH
        assert fit[-1].data["reason"] == "completed"


def test_resume_keeps_the_killed_attempt_and_adds_only_what_it_did(logdir):
    events, _ = read_quietly(logdir)
    killed, resumed = fits_of(events, "backup/train")
    # The killed attempt: everything up to the kill, no train_end.
    assert [e.kind for e in killed] == ["train_begin"] + ["lr_change"] * (KILLED_AT + 1)
    assert [e.epoch for e in killed[1:]] == list(range(KILLED_AT + 1))
    # The resumed fit: one backup_restored, then only the epochs it ran.
    (restored,) = [e for e in resumed if e.kind == "backup_restored"]
    assert restored.data["initial_epoch"] == KILLED_AT and restored.epoch == KILLED_AT
    assert restored.step == KILLED_AT * STEPS_PER_EPOCH  # the optimizer's step came back too
    assert resumed[-1].kind == "train_end" and resumed[-1].data["reason"] == "completed"
    assert resumed[-1].step == BACKUP_EPOCHS * STEPS_PER_EPOCH
    after_begin = [e for e in resumed if e.kind != "train_begin"]
    assert all(e.epoch >= KILLED_AT for e in after_begin), [(e.kind, e.epoch) for e in after_begin]
    scheduled = [e for e in resumed if e.kind == "lr_change" and e.source == "LearningRateScheduler"]
    assert [e.epoch for e in scheduled] == list(range(KILLED_AT, BACKUP_EPOCHS))
    # Epoch 2 was run twice (killed, then redone): its change is recorded once per attempt.
    redone = [e for e in events if e.run == "backup/train" and e.kind == "lr_change" and e.epoch == KILLED_AT]
    assert len([e for e in redone if e.source == "LearningRateScheduler"]) == 2
    assert len({e.wall_time for e in redone}) == len(redone)


def test_resumed_fit_begins_where_the_backup_left_off(logdir):
    events, _ = read_quietly(logdir)
    _, resumed = fits_of(events, "backup/train")
    begin = resumed[0]
    assert (begin.step, begin.epoch) == (KILLED_AT * STEPS_PER_EPOCH, KILLED_AT)
    assert begin.data["initial_epoch"] == KILLED_AT
    assert [e.source for e in resumed if e.kind == "lr_change"] == ["LearningRateScheduler"] * (
        BACKUP_EPOCHS - KILLED_AT
    )


# ---------------------------------------------------------------- plugin


@LOADERS
def test_plugin_serves_what_read_events_reads_and_scalars_as_tensorboard_keeps(
    logdir, load_fast, shared_tensorboards
):
    events, _ = read_quietly(logdir)
    expected = {run: [e for e in events if e.run == run] for run in ("restart/train", "backup/train")}
    tb = shared_tensorboards.view(logdir, load_fast=load_fast)
    assert_served_as_read(tb, expected)
    series = tb.plugin_json(
        "scalars?" + urllib.parse.urlencode({"run": "restart/train", "tag": "epoch_loss"})
    )
    if load_fast:
        # The Rust data server took B's step-0 record as a restart and
        # dropped both of A's fits' epoch_loss (every step >= 0).
        assert series["step"] == list(range(B_EPOCHS))
    else:
        # The Python loader keeps all three fits' points (file_version 2),
        # one fit after another as written, each at its own fit's steps: A's
        # second fit continues A's steps, B (a fresh model) starts again.
        assert series["step"] == [*range(A_EPOCHS), *range(A_EPOCHS), *range(B_EPOCHS)]
        ends = [(e + 1) * STEPS_PER_EPOCH for e in range(A_EPOCHS)]
        assert series["global_step"] == [
            *ends,
            *(A_EPOCHS * STEPS_PER_EPOCH + s for s in ends),
            *ends[:B_EPOCHS],
        ]
    assert series["total"] == len(series["step"])
