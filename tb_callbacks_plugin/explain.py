"""Why a callback acted: one event (and its monitored metric) as a sentence and drawable parts.

Pure: an event's fields in, an `explain()` dict out; no I/O, no Keras. The
CLI's table, `plot --explain` and the report use it, and the tab's
frontend/src/explain.ts mirrors it (tests/golden/explain_cases.json holds
cases both must answer alike, so keep the two in step).

What it states comes from the event's data, never from a guess:

- a drop-in's decision (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint
  with save_best_only, TerminateOnNaN) is told as Keras made it: the best
  value, the improvement it needed (best -/+ min_delta in the resolved mode),
  the epochs of the patience window, the baseline, the restored epoch, the
  cooldown, min_lr;
- a detected action (`data.detected`: the TensorBoard sink saw a callback
  change the rate, set `stop_training` or call `set_weights`) is told as
  what was seen and from what, with no reason it did not give;
- when the monitored metric's series is given and empty (the metric was
  never written, e.g. `val_loss` without validation data), it says so and
  marks nothing to draw.

Epochs in sentences count from 1 (Keras's console); epochs in the marks are
0-based, as the event fields and TensorBoard's epoch axis (x of `epoch_*`).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping
from typing import Any, TypeGuard

from tb_callbacks_plugin import conventions

# The kinds a monitoring callback's decision can be explained for.
EXPLAINED_KINDS = ("early_stop", "lr_change", "checkpoint_saved", "nan_terminated", "weights_restored")
# Relative tolerance for finding `best` in a written series (scalars are float32).
_SAME_VALUE = 1e-6


def num(value: Any) -> str:
    """A number as sentences show it: 4 significant digits, shortest form.

    Integers (and integral floats) as they are; otherwise rounded to 4 significant digits and
    written in plain notation for 1e-4 <= |x| < 1e6 ("0.1352", "12.5"),
    else as "1.5e-5" (explain.ts's `num` writes the same text).
    """
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value  # "NaN" / "Infinity" as JSON names them
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return conventions.nonfinite_name(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))  # JSON (and so the tab) cannot tell 3.0 from 3
    rounded = float(f"{x:.4g}")
    if rounded == 0:
        return "0"
    if 1e-4 <= abs(rounded) < 1e6:
        return str(int(rounded)) if rounded.is_integer() else repr(rounded)
    mantissa, exponent = f"{rounded:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _epoch(epoch: Any) -> str:
    return str(conventions.console_epoch(epoch)) if _is_int(epoch) else "?"


def _epochs(count: Any) -> str:
    return f"{num(count)} epoch" if count == 1 else f"{num(count)} epochs"


def _span(first: int, last: int) -> str:
    return f"epoch {_epoch(first)}" if first == last else f"epochs {_epoch(first)}-{_epoch(last)}"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def monitor_source(run: str, monitor: str) -> tuple[str, str]:
    """(run, tag) where Keras's TensorBoard wrote the epoch series of `monitor` for an event of `run`.

    `val_loss` of an event in `exp/train` is `epoch_loss` of `exp/validation`.
    """
    run_name, metric = conventions.split_logs_key(monitor)
    experiment = conventions.experiment_of(run)
    target = run_name if experiment == conventions.ROOT_EXPERIMENT else posixpath.join(experiment, run_name)
    return target, conventions.epoch_tag(metric)


def threshold(best: Any, min_delta: Any, mode: Any) -> float | None:
    """The value the monitor had to pass to count as an improvement on `best`, as Keras compares."""
    if not _is_number(best) or mode not in ("min", "max"):
        return None
    delta = abs(min_delta) if _is_number(min_delta) else 0.0
    return float(best) - delta if mode == "min" else float(best) + delta


def _reached_baseline(best: Any, baseline: Any, min_delta: Any, mode: Any) -> bool | None:
    """Whether `best` beat `baseline` as Keras compares them (by more than min_delta, in `mode`)."""
    if not (_is_number(best) and _is_number(baseline)) or mode not in ("min", "max"):
        return None
    delta = abs(min_delta) if _is_number(min_delta) else 0.0
    return bool(best < baseline - delta) if mode == "min" else bool(best > baseline + delta)


def _best_epoch_in(series: Mapping[int, float] | None, best: Any, before: Any) -> int | None:
    """The first epoch before `before` whose value is `best` (ReduceLROnPlateau keeps no best_epoch).

    Keras replaces `best` only by a value beyond it, so the first epoch that
    had it is where it was set.
    """
    if not series or not _is_number(best):
        return None
    for epoch in sorted(series):
        if _is_int(before) and epoch >= before:
            break
        value = series[epoch]
        if _is_number(value) and math.isclose(value, best, rel_tol=_SAME_VALUE, abs_tol=1e-12):
            return epoch
    return None


def _blank(event: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data") or {}
    return {
        "kind": event.get("kind"),
        "source": event.get("source"),
        "epoch": event.get("epoch"),
        "step": event.get("step"),
        "detected": bool(data.get("detected")),
        "sentence": "",
        "monitor": data.get("monitor") if isinstance(data.get("monitor"), str) else None,
        "mode": data.get("mode") if data.get("mode") in ("min", "max") else None,
        "metric_written": None,
        "best": None,
        "threshold": None,
        "window": None,
        "baseline": None,
        "restored_epoch": None,
        "cooldown": None,
        "min_lr": None,
        "decision": None,
        "last_finite": None,
        "non_finite": None,
    }


def _best_and_line(out: dict[str, Any], data: Mapping[str, Any], best_epoch: Any) -> str:
    """Sets best/threshold marks; returns "on 0.1352 (epoch 14) by more than 0.001"."""
    best, min_delta = data.get("best"), data.get("min_delta")
    if _is_number(best):
        out["best"] = {"epoch": best_epoch if _is_int(best_epoch) else None, "value": best}
    out["threshold"] = threshold(best, min_delta, out["mode"])
    text = f"on {num(best)}"
    if _is_int(best_epoch):
        text += f" (epoch {_epoch(best_epoch)})"
    if _is_number(min_delta) and min_delta:
        text += f" by more than {num(abs(min_delta))}"
    return text


def _window(out: dict[str, Any], data: Mapping[str, Any]) -> str:
    first, last = data.get("window_first_epoch"), data.get("window_last_epoch")
    if not (_is_int(first) and _is_int(last)):
        return ""
    out["window"] = [first, last]
    return f" ({_span(first, last)})"


def _early_stop(out: dict[str, Any], event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    monitor, wait = out["monitor"], data.get("wait")
    best_epoch = data.get("best_epoch")
    where = f"stopped at epoch {_epoch(event.get('epoch'))}"
    if not monitor or not _is_int(wait):
        return f"training stopped early: {where}"
    line = _best_and_line(out, data, best_epoch)
    window = _window(out, data)
    baseline = data.get("baseline")
    if _is_number(baseline):
        out["baseline"] = baseline
    if _reached_baseline(data.get("best"), baseline, data.get("min_delta"), out["mode"]) is False:
        best = f"best {num(data.get('best'))}"
        if _is_int(best_epoch):
            best += f" at epoch {_epoch(best_epoch)}"
        text = f"{monitor} did not reach the baseline {num(baseline)} ({best}) in {_epochs(wait)}{window}"
    else:
        text = f"{monitor} did not improve {line} for {_epochs(wait)}{window}"
    text += f": {where}"
    start = data.get("start_from_epoch")
    if _is_int(start) and start > 0:
        text += f" (monitored from epoch {_epoch(start)})"
    if data.get("restore_best_weights") is True and _is_int(best_epoch):
        out["restored_epoch"] = best_epoch
        text += f"; the weights of epoch {_epoch(best_epoch)} are restored"
    if _is_number(data.get("value")):
        out["decision"] = {"epoch": event.get("epoch"), "value": data["value"]}
    return text


def _lr_change(
    out: dict[str, Any], event: Mapping[str, Any], data: Mapping[str, Any], series: Mapping[int, float] | None
) -> str:
    rate = f"learning rate {num(data.get('old'))} -> {num(data.get('new'))}"
    if data.get("optimizer"):
        rate = f"learning rate of {data['optimizer']} {num(data.get('old'))} -> {num(data.get('new'))}"
    monitor, wait = out["monitor"], data.get("wait")
    if not monitor or not _is_int(wait):
        return f"{rate} at epoch {_epoch(event.get('epoch'))}"
    first = data.get("window_first_epoch")
    line = _best_and_line(out, data, _best_epoch_in(series, data.get("best"), first))
    text = f"{monitor} did not improve {line} for {_epochs(wait)}{_window(out, data)}: {rate}"
    min_lr, new = data.get("min_lr"), data.get("new")
    if _is_number(min_lr) and _is_number(new) and min_lr > 0 and math.isclose(new, min_lr, rel_tol=1e-6):
        out["min_lr"] = min_lr
        text += f", the floor min_lr={num(min_lr)}"
    cooldown, epoch = data.get("cooldown"), event.get("epoch")
    if _is_int(cooldown) and cooldown > 0 and _is_int(epoch):
        out["cooldown"] = [epoch + 1, epoch + cooldown]
        text += f"; cooldown {_span(epoch + 1, epoch + cooldown)}"
    if _is_number(data.get("value")):
        out["decision"] = {"epoch": epoch, "value": data["value"]}
    return text


def _checkpoint(out: dict[str, Any], event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    path, monitor, value = data.get("filepath"), out["monitor"], data.get("value")
    saved = f"saved {path}" if path else "saved a checkpoint"
    if not data.get("save_best_only") or not monitor or not _is_number(value):
        return f"{saved} at epoch {_epoch(event.get('epoch'))}"
    out["decision"] = {"epoch": event.get("epoch"), "value": value}
    out["best"] = {"epoch": event.get("epoch"), "value": value}
    if "previous_best" not in data:
        return f"{monitor} improved to {num(value)}: {saved}"
    previous = data.get("previous_best")
    if not _is_number(previous):
        return f"{monitor} was {num(value)}, the first value to compare: {saved}"
    out["threshold"] = threshold(previous, data.get("min_delta"), out["mode"])
    min_delta = data.get("min_delta")
    by = f" by more than {num(min_delta)}" if _is_number(min_delta) and min_delta else ""
    return f"{monitor} improved on {num(previous)}{by} to {num(value)}: {saved}"


def _nan(out: dict[str, Any], event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    batch, loss, step = data.get("batch"), data.get("loss"), event.get("step")
    where = f"epoch {_epoch(event.get('epoch'))}"
    if _is_int(batch):
        where = f"batch {batch} of {where}"
    out["non_finite"] = {"batch": batch if _is_int(batch) else None, "step": step, "value": num(loss)}
    text = f"loss was {num(loss)} at {where}"
    last_batch, last_loss = data.get("last_finite_batch"), data.get("last_finite_loss")
    if _is_int(last_batch) and _is_number(last_loss):
        last_step = None
        if _is_int(step) and _is_int(batch) and last_batch < batch:
            last_step = step - (batch - last_batch)  # one step per batch within an epoch
        out["last_finite"] = {"batch": last_batch, "step": last_step, "value": last_loss}
        text += f", after {num(last_loss)} at batch {last_batch}"
    return text + ": training terminated"


def _restored(out: dict[str, Any], data: Mapping[str, Any]) -> str:
    best_epoch = data.get("best_epoch")
    if not _is_int(best_epoch):
        return "earlier weights were restored"
    out["restored_epoch"] = best_epoch
    text = f"restored the weights of epoch {_epoch(best_epoch)}"
    if out["monitor"] and _is_number(data.get("best")):
        out["best"] = {"epoch": best_epoch, "value": data["best"]}
        text += f", where {out['monitor']} was best at {num(data['best'])}"
    return text


def _state(data: Mapping[str, Any]) -> str:
    """The monitor attributes the detector read off the callback, as read (no reason drawn from them)."""
    parts = [f"{key} {num(data[key])}" for key in ("best", "patience", "wait") if key in data]
    if not data.get("monitor"):
        return ""
    return f" (its attributes then: monitor {data['monitor']}" + "".join(", " + p for p in parts) + ")"


def _detected(out: dict[str, Any], event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    who, kind, hook = event.get("source") or "a callback", event.get("kind"), data.get("hook")
    during = f" during its {hook}" if hook else ""
    at = f" at epoch {_epoch(event.get('epoch'))}" if _is_int(event.get("epoch")) else ""
    if kind == "lr_change":
        what = "the learning rate (a new schedule)" if data.get("schedule_replaced") else "the learning rate"
        text = f"detected: {what} changed {num(data.get('old'))} -> {num(data.get('new'))}{at}"
        text += f", read from the optimizer before and after {who}'s {hook or 'hook'}"
    elif kind == "early_stop":
        text = f"detected: {who} set model.stop_training{during}{at}"
    elif kind == "weights_restored":
        best_epoch = data.get("best_epoch")
        if _is_int(best_epoch):
            out["restored_epoch"] = best_epoch
            which = f"the weights taken at the end of epoch {_epoch(best_epoch)}"
        else:
            which = "weights not seen taken during this fit"
        text = f"detected: {who} called model.set_weights{during} with {which}"
    else:
        text = f"detected: {kind} by {who}{during}{at}"
    return text + _state(data) + "; it gave no reason"


def explain(event: Mapping[str, Any], series: Mapping[int, float] | None = None) -> dict[str, Any] | None:
    """The explanation of `event` (a dict of Event fields), or None for a kind with no decision to explain.

    Args:
      event: `kind`, `step`, `epoch`, `source`, `data` (as the routes and
        `Event` give them).
      series: the monitored metric's epoch series (epoch -> value, from the
        run and tag `monitor_source` names), when the caller read it: `{}`
        means it was not written; None means not looked at.

    Returns:
      A dict: `sentence` (Keras's console numbering), `monitor`, `mode`,
      `metric_written` (None when not looked at), and the marks to draw,
      each None when it does not apply: `best` ({epoch, value}),
      `threshold` (the value an improvement had to pass), `window`
      ([first, last] epochs without improvement), `baseline`,
      `restored_epoch`, `cooldown` ([first, last] epochs), `min_lr` (when
      the rate reached it), `decision` ({epoch, value} of the monitor when it
      acted), `last_finite`/`non_finite` ({batch, step, value}).
    """
    kind, data = event.get("kind"), event.get("data") or {}
    if kind not in EXPLAINED_KINDS:
        return None
    out = _blank(event)
    if out["detected"]:
        out["sentence"] = _detected(out, event, data)
        return out
    if kind == "early_stop":
        out["sentence"] = _early_stop(out, event, data)
    elif kind == "lr_change":
        out["sentence"] = _lr_change(out, event, data, series)
    elif kind == "checkpoint_saved":
        out["sentence"] = _checkpoint(out, event, data)
    elif kind == "nan_terminated":
        out["sentence"] = _nan(out, event, data)
    else:
        out["sentence"] = _restored(out, data)
    if out["monitor"] and series is not None:
        out["metric_written"] = bool(series)
        if not series:
            # Nothing to draw on: say so rather than place marks on no curve.
            out["sentence"] += f"; {out['monitor']} was not written to the logs: no curve to draw it on"
            for key in ("best", "threshold", "window", "baseline", "restored_epoch", "cooldown", "decision"):
                out[key] = None
    return out
