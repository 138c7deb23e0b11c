// Why a callback acted: one event (and its monitored metric) as a sentence
// and the parts to draw. The mirror of tb_callbacks_plugin/explain.py (the
// CLI's and report's side): tests/golden/explain_cases.json holds cases both
// must answer alike (tests/test_explain.py runs this module under Node), so
// change the two together.
//
// Epochs in sentences count from 1 (Keras's console); epochs in the marks are
// 0-based, as the event fields and TensorBoard's epoch axis.

export const EXPLAINED_KINDS = new Set(["early_stop", "lr_change", "checkpoint_saved", "nan_terminated", "weights_restored"]);
const SAME_VALUE = 1e-6;
const VALIDATION_PREFIX = "val_";
const EXPERIMENT_RUNS = new Set(["train", "validation", "eval", "evaluation"]);

export interface ExplainEvent {
  kind: string;
  step?: number | null;
  epoch?: number | null;
  source?: string | null;
  data?: Record<string, unknown> | null;
}

export interface Point {
  epoch: number | null;
  value: number;
}

export interface Explanation {
  kind: string;
  source: string | null;
  epoch: number | null;
  step: number | null;
  detected: boolean;
  sentence: string;
  monitor: string | null;
  mode: "min" | "max" | null;
  /** Whether the monitored metric was written; null when not looked at. */
  metric_written: boolean | null;
  best: Point | null;
  /** The value an improvement had to pass. */
  threshold: number | null;
  /** [first, last] epochs without improvement. */
  window: [number, number] | null;
  baseline: number | null;
  restored_epoch: number | null;
  cooldown: [number, number] | null;
  /** Set when the rate reached it. */
  min_lr: number | null;
  /** The monitor's value where the callback acted. */
  decision: Point | null;
  last_finite: { batch: number; step: number | null; value: number } | null;
  non_finite: { batch: number | null; step: number | null; value: string } | null;
}

/** Epoch -> value of the monitored metric; {} when it was not written. */
export type EpochSeries = Record<number, number>;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** A number as sentences show it: 4 significant digits, shortest form (as explain.py's `num`). */
export function num(value: unknown): string {
  if (value === null || value === undefined) return "?";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return value;
  if (typeof value !== "number") return String(value);
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const rounded = Number(value.toPrecision(4));
  if (rounded === 0) return "0";
  const abs = Math.abs(rounded);
  if (abs >= 1e-4 && abs < 1e6) return String(rounded);
  const [mantissa, exponent] = rounded.toExponential(3).split("e");
  return `${mantissa.replace(/0+$/, "").replace(/\.$/, "")}e${Number.parseInt(exponent, 10)}`;
}

const epochText = (epoch: unknown) => (isInt(epoch) ? String(epoch + 1) : "?");
const epochsText = (count: unknown) => (count === 1 ? `${num(count)} epoch` : `${num(count)} epochs`);
const spanText = (first: number, last: number) =>
  first === last ? `epoch ${epochText(first)}` : `epochs ${epochText(first)}-${epochText(last)}`;

/** [run, tag] where Keras's TensorBoard wrote the epoch series of `monitor` for an event of `run`. */
export function monitorSource(run: string, monitor: string): [string, string] {
  const validation = monitor.startsWith(VALIDATION_PREFIX);
  const runName = validation ? "validation" : "train";
  const metric = validation ? monitor.slice(VALIDATION_PREFIX.length) : monitor;
  const slash = run.lastIndexOf("/");
  const parent = slash >= 0 ? run.slice(0, slash) : "";
  const name = slash >= 0 ? run.slice(slash + 1) : run;
  const experiment = EXPERIMENT_RUNS.has(name) ? parent || "." : run;
  return [experiment === "." ? runName : `${experiment}/${runName}`, `epoch_${metric}`];
}

/** The value the monitor had to pass to count as an improvement on `best`, as Keras compares. */
export function threshold(best: unknown, minDelta: unknown, mode: unknown): number | null {
  if (!isNumber(best) || (mode !== "min" && mode !== "max")) return null;
  const delta = isNumber(minDelta) ? Math.abs(minDelta) : 0;
  return mode === "min" ? best - delta : best + delta;
}

function reachedBaseline(best: unknown, baseline: unknown, minDelta: unknown, mode: unknown): boolean | null {
  if (!isNumber(best) || !isNumber(baseline) || (mode !== "min" && mode !== "max")) return null;
  const delta = isNumber(minDelta) ? Math.abs(minDelta) : 0;
  return mode === "min" ? best < baseline - delta : best > baseline + delta;
}

function isClose(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(SAME_VALUE * Math.max(Math.abs(a), Math.abs(b)), 1e-12);
}

/** The first epoch before `before` whose value is `best` (ReduceLROnPlateau keeps no best_epoch). */
function bestEpochIn(series: EpochSeries | null, best: unknown, before: unknown): number | null {
  if (!series || !isNumber(best)) return null;
  const epochs = Object.keys(series)
    .map(Number)
    .sort((a, b) => a - b);
  for (const epoch of epochs) {
    if (isInt(before) && epoch >= before) break;
    const value = series[epoch];
    if (isNumber(value) && isClose(value, best)) return epoch;
  }
  return null;
}

function blank(event: ExplainEvent, data: Record<string, unknown>): Explanation {
  return {
    kind: event.kind,
    source: event.source ?? null,
    epoch: event.epoch ?? null,
    step: event.step ?? null,
    detected: Boolean(data.detected),
    sentence: "",
    monitor: typeof data.monitor === "string" ? data.monitor : null,
    mode: data.mode === "min" || data.mode === "max" ? data.mode : null,
    metric_written: null,
    best: null,
    threshold: null,
    window: null,
    baseline: null,
    restored_epoch: null,
    cooldown: null,
    min_lr: null,
    decision: null,
    last_finite: null,
    non_finite: null,
  };
}

function bestAndLine(out: Explanation, data: Record<string, unknown>, bestEpoch: unknown): string {
  const best = data.best;
  const minDelta = data.min_delta;
  if (isNumber(best)) out.best = { epoch: isInt(bestEpoch) ? bestEpoch : null, value: best };
  out.threshold = threshold(best, minDelta, out.mode);
  let text = `on ${num(best)}`;
  if (isInt(bestEpoch)) text += ` (epoch ${epochText(bestEpoch)})`;
  if (isNumber(minDelta) && minDelta) text += ` by more than ${num(Math.abs(minDelta))}`;
  return text;
}

function windowText(out: Explanation, data: Record<string, unknown>): string {
  const first = data.window_first_epoch;
  const last = data.window_last_epoch;
  if (!isInt(first) || !isInt(last)) return "";
  out.window = [first, last];
  return ` (${spanText(first, last)})`;
}

function earlyStop(out: Explanation, event: ExplainEvent, data: Record<string, unknown>): string {
  const { monitor } = out;
  const wait = data.wait;
  const bestEpoch = data.best_epoch;
  const where = `stopped at epoch ${epochText(event.epoch)}`;
  if (!monitor || !isInt(wait)) return `training stopped early: ${where}`;
  const line = bestAndLine(out, data, bestEpoch);
  const window = windowText(out, data);
  const baseline = data.baseline;
  if (isNumber(baseline)) out.baseline = baseline;
  let text: string;
  if (reachedBaseline(data.best, baseline, data.min_delta, out.mode) === false) {
    let best = `best ${num(data.best)}`;
    if (isInt(bestEpoch)) best += ` at epoch ${epochText(bestEpoch)}`;
    text = `${monitor} did not reach the baseline ${num(baseline)} (${best}) in ${epochsText(wait)}${window}`;
  } else {
    text = `${monitor} did not improve ${line} for ${epochsText(wait)}${window}`;
  }
  text += `: ${where}`;
  const start = data.start_from_epoch;
  if (isInt(start) && start > 0) text += ` (monitored from epoch ${epochText(start)})`;
  if (data.restore_best_weights === true && isInt(bestEpoch)) {
    out.restored_epoch = bestEpoch;
    text += `; the weights of epoch ${epochText(bestEpoch)} are restored`;
  }
  if (isNumber(data.value)) out.decision = { epoch: event.epoch ?? null, value: data.value };
  return text;
}

function lrChange(out: Explanation, event: ExplainEvent, data: Record<string, unknown>, series: EpochSeries | null): string {
  let rate = `learning rate ${num(data.old)} -> ${num(data.new)}`;
  if (data.optimizer) rate = `learning rate of ${String(data.optimizer)} ${num(data.old)} -> ${num(data.new)}`;
  const { monitor } = out;
  const wait = data.wait;
  if (!monitor || !isInt(wait)) return `${rate} at epoch ${epochText(event.epoch)}`;
  const line = bestAndLine(out, data, bestEpochIn(series, data.best, data.window_first_epoch));
  let text = `${monitor} did not improve ${line} for ${epochsText(wait)}${windowText(out, data)}: ${rate}`;
  const minLr = data.min_lr;
  const next = data.new;
  if (isNumber(minLr) && isNumber(next) && minLr > 0 && Math.abs(next - minLr) <= 1e-6 * Math.max(Math.abs(next), Math.abs(minLr))) {
    out.min_lr = minLr;
    text += `, the floor min_lr=${num(minLr)}`;
  }
  const cooldown = data.cooldown;
  const epoch = event.epoch;
  if (isInt(cooldown) && cooldown > 0 && isInt(epoch)) {
    out.cooldown = [epoch + 1, epoch + cooldown];
    text += `; cooldown ${spanText(epoch + 1, epoch + cooldown)}`;
  }
  if (isNumber(data.value)) out.decision = { epoch: epoch ?? null, value: data.value };
  return text;
}

function checkpoint(out: Explanation, event: ExplainEvent, data: Record<string, unknown>): string {
  const path = data.filepath;
  const { monitor } = out;
  const value = data.value;
  const saved = path ? `saved ${String(path)}` : "saved a checkpoint";
  if (!data.save_best_only || !monitor || !isNumber(value)) return `${saved} at epoch ${epochText(event.epoch)}`;
  out.decision = { epoch: event.epoch ?? null, value };
  out.best = { epoch: event.epoch ?? null, value };
  if (!("previous_best" in data)) return `${monitor} improved to ${num(value)}: ${saved}`;
  const previous = data.previous_best;
  if (!isNumber(previous)) return `${monitor} was ${num(value)}, the first value to compare: ${saved}`;
  out.threshold = threshold(previous, data.min_delta, out.mode);
  const minDelta = data.min_delta;
  const by = isNumber(minDelta) && minDelta ? ` by more than ${num(minDelta)}` : "";
  return `${monitor} improved on ${num(previous)}${by} to ${num(value)}: ${saved}`;
}

function nanTerminated(out: Explanation, event: ExplainEvent, data: Record<string, unknown>): string {
  const { batch, loss } = data;
  const step = event.step ?? null;
  let where = `epoch ${epochText(event.epoch)}`;
  if (isInt(batch)) where = `batch ${batch} of ${where}`;
  out.non_finite = { batch: isInt(batch) ? batch : null, step, value: num(loss) };
  let text = `loss was ${num(loss)} at ${where}`;
  const lastBatch = data.last_finite_batch;
  const lastLoss = data.last_finite_loss;
  if (isInt(lastBatch) && isNumber(lastLoss)) {
    // One step per batch within an epoch.
    const lastStep = isInt(step) && isInt(batch) && lastBatch < batch ? step - (batch - lastBatch) : null;
    out.last_finite = { batch: lastBatch, step: lastStep, value: lastLoss };
    text += `, after ${num(lastLoss)} at batch ${lastBatch}`;
  }
  return `${text}: training terminated`;
}

function restored(out: Explanation, data: Record<string, unknown>): string {
  const bestEpoch = data.best_epoch;
  if (!isInt(bestEpoch)) return "earlier weights were restored";
  out.restored_epoch = bestEpoch;
  let text = `restored the weights of epoch ${epochText(bestEpoch)}`;
  if (out.monitor && isNumber(data.best)) {
    out.best = { epoch: bestEpoch, value: data.best };
    text += `, where ${out.monitor} was best at ${num(data.best)}`;
  }
  return text;
}

/** The monitor attributes the detector read off the callback, as read (no reason drawn from them). */
function stateText(data: Record<string, unknown>): string {
  if (!data.monitor) return "";
  const parts = ["best", "patience", "wait"].filter((k) => k in data).map((k) => `, ${k} ${num(data[k])}`);
  return ` (its attributes then: monitor ${String(data.monitor)}${parts.join("")})`;
}

function detected(out: Explanation, event: ExplainEvent, data: Record<string, unknown>): string {
  const who = event.source || "a callback";
  const hook = data.hook;
  const during = hook ? ` during its ${String(hook)}` : "";
  const at = isInt(event.epoch) ? ` at epoch ${epochText(event.epoch)}` : "";
  let text: string;
  if (event.kind === "lr_change") {
    const what = data.schedule_replaced ? "the learning rate (a new schedule)" : "the learning rate";
    text = `detected: ${what} changed ${num(data.old)} -> ${num(data.new)}${at}`;
    text += `, read from the optimizer before and after ${who}'s ${hook ? String(hook) : "hook"}`;
  } else if (event.kind === "early_stop") {
    text = `detected: ${who} set model.stop_training${during}${at}`;
  } else if (event.kind === "weights_restored") {
    const bestEpoch = data.best_epoch;
    let which = "weights not seen taken during this fit";
    if (isInt(bestEpoch)) {
      out.restored_epoch = bestEpoch;
      which = `the weights taken at the end of epoch ${epochText(bestEpoch)}`;
    }
    text = `detected: ${who} called model.set_weights${during} with ${which}`;
  } else {
    text = `detected: ${event.kind} by ${who}${during}${at}`;
  }
  return `${text}${stateText(data)}; it gave no reason`;
}

/**
 * The explanation of `event`, or null for a kind with no decision to explain.
 * `series`: the monitored metric's epoch series when looked at ({} when it
 * was not written), else null.
 */
export function explain(event: ExplainEvent, series: EpochSeries | null = null): Explanation | null {
  if (!EXPLAINED_KINDS.has(event.kind)) return null;
  const data = event.data ?? {};
  const out = blank(event, data);
  if (out.detected) {
    out.sentence = detected(out, event, data);
    return out;
  }
  if (event.kind === "early_stop") out.sentence = earlyStop(out, event, data);
  else if (event.kind === "lr_change") out.sentence = lrChange(out, event, data, series);
  else if (event.kind === "checkpoint_saved") out.sentence = checkpoint(out, event, data);
  else if (event.kind === "nan_terminated") out.sentence = nanTerminated(out, event, data);
  else out.sentence = restored(out, data);
  if (out.monitor && series !== null) {
    const written = Object.keys(series).length > 0;
    out.metric_written = written;
    if (!written) {
      // Nothing to draw on: say so rather than place marks on no curve.
      out.sentence += `; ${out.monitor} was not written to the logs: no curve to draw it on`;
      out.best = out.threshold = out.baseline = out.restored_epoch = out.decision = null;
      out.window = out.cooldown = null;
    }
  }
  return out;
}
