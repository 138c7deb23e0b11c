// Several fits into one log_dir. Keras numbers every fit's epochs from its
// initial_epoch and a fresh model restarts the step count, so neither tells
// fits apart; each fit's `train_begin` does. A fit is one writer's events
// (the events route names each event's writer: one per fit and run), so two
// processes fitting into one log_dir at once stay apart; an event whose
// writer began no fit (another tool's, an old server's) belongs to the last
// fit that had begun when it was written. Metric points carry no writer
// (TensorBoard merges every writer's points of a tag into one series): a
// point belongs to the fit running when it was written, and where several
// were running it cannot be told whose it is (`fitsRunning`).

import type { CallbackEvent } from "./api";

export interface Fit {
  index: number;
  /** Wall time of its train_begin. */
  wall: number;
  /** Wall time of its last event (its train_end, once it has one); set by `assignFits`. */
  end: number;
  /** The global step it began at. */
  step: number;
  initialEpoch: number;
  stepsPerEpoch: number | null;
  /** The last epoch it trained, from its train_end; null while running or unknown. */
  lastEpoch: number | null;
  /** Writer keys (`writerKey`) of its train_begin. */
  writers: Set<string>;
}

type RunEvent = CallbackEvent & { run?: string };

/** The event's writer within its run, or null when the server did not say. */
export function writerKey(e: RunEvent): string | null {
  return e.writer == null ? null : `${e.run ?? ""}\u0000${e.writer}`;
}

/** The fits of one experiment, from its events (any order), by start time. */
export function fitsOf(events: Iterable<RunEvent>): Fit[] {
  const begins: RunEvent[] = [];
  const ends: RunEvent[] = [];
  for (const e of events) {
    if (e.kind === "train_begin") begins.push(e);
    else if (e.kind === "train_end") ends.push(e);
  }
  begins.sort((a, b) => a.wall_time - b.wall_time);
  const fits: Fit[] = [];
  for (const b of begins) {
    const key = writerKey(b);
    // One fit's train_begin seen twice (two runs of an experiment) is one
    // start; a small model's fits can begin within a second of each other.
    const last = fits[fits.length - 1];
    if (last && b.wall_time === last.wall) {
      if (key) last.writers.add(key);
      continue;
    }
    const spe = b.data.steps;
    fits.push({
      index: fits.length,
      wall: b.wall_time,
      end: b.wall_time,
      step: b.step,
      initialEpoch: typeof b.data.initial_epoch === "number" ? b.data.initial_epoch : b.epoch ?? 0,
      stepsPerEpoch: typeof spe === "number" && spe > 0 ? spe : null,
      lastEpoch: null,
      writers: new Set(key ? [key] : []),
    });
  }
  for (const e of ends) {
    const fit = fits[fitOfEvent(fits, e)];
    const last = typeof e.data.last_epoch === "number" ? e.data.last_epoch : e.epoch;
    if (fit && typeof last === "number") fit.lastEpoch = last;
  }
  return fits;
}

/** The fit of an event: its writer's (the last its writer began by then), else the one running at its time. */
export function fitOfEvent(fits: readonly Fit[], e: RunEvent): number {
  const key = writerKey(e);
  let own = -1;
  for (const fit of (key && writerFits(fits).get(key)) || []) {
    if (own < 0 || fit.wall <= e.wall_time) own = fit.index;
  }
  return own >= 0 ? own : fitAt(fits, e.wall_time);
}

const byWriterCache = new WeakMap<readonly Fit[], Map<string, Fit[]>>();

/** Writer key -> the fits it began, by start time (a search's many fits: not a scan per event). */
function writerFits(fits: readonly Fit[]): Map<string, Fit[]> {
  let map = byWriterCache.get(fits);
  if (!map) {
    map = new Map();
    for (const fit of fits) {
      for (const key of fit.writers) {
        const list = map.get(key);
        if (list) list.push(fit);
        else map.set(key, [fit]);
      }
    }
    byWriterCache.set(fits, map);
  }
  return map;
}

/** Each event's fit (`fitOfEvent`), and each fit's `end`; returns each event's fit in order. */
export function assignFits(fits: readonly Fit[], events: readonly RunEvent[]): number[] {
  const out = events.map((e) => fitOfEvent(fits, e));
  events.forEach((e, i) => {
    const fit = fits[out[i]];
    if (fit && e.wall_time > fit.end) fit.end = e.wall_time;
  });
  return out;
}

/**
 * The fits running at `wall` (begun, and not past their last event), when
 * more than one: a metric point written then could be any of theirs. Empty
 * when at most one was running (then `fitAt` tells whose it is).
 */
export function fitsRunning(fits: readonly Fit[], wall: number): number[] {
  const running = fits.filter((f) => f.wall <= wall && wall <= f.end);
  return running.length > 1 ? running.map((f) => f.index) : [];
}

/** Index of the fit running at `wall` (0 before the first, and without fits). */
export function fitAt(fits: readonly Fit[], wall: number): number {
  let lo = 0;
  let hi = fits.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fits[mid].wall <= wall) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/** The global step at which `epoch` of `fit` ended, from its train_begin; NaN when unknown. */
export function epochEndStep(fit: Fit | undefined, epoch: number): number {
  if (!fit?.stepsPerEpoch) return Number.NaN;
  return fit.step + (epoch - fit.initialEpoch + 1) * fit.stepsPerEpoch;
}

/** The (fractional) epoch position of a global step within `fit`; NaN when unknown. */
export function stepEpoch(fit: Fit | undefined, step: number): number {
  if (!fit?.stepsPerEpoch) return Number.NaN;
  return fit.initialEpoch - 1 + (step - fit.step) / fit.stepsPerEpoch;
}

/** Epochs `fit` trained, when its train_end says. */
export function epochsTrained(fit: Fit): number | null {
  return fit.lastEpoch == null ? null : fit.lastEpoch - fit.initialEpoch + 1;
}

/** An lr_change as the rate line uses it: the step it happened at, the rates, where it is drawn. */
export interface RateChange {
  step: number;
  old: number | null;
  new: number | null;
  /** Its position on the chart's x axis (NaN: unknown, then it is drawn at the previous point). */
  x: number;
}

/**
 * A learning rate as drawn: at each recorded point, the rate the optimizer
 * trained that point's last step with, taken from the fit's lr_change events
 * when it has any; between points, steps that change where the events say.
 *
 * The recorded value cannot be trusted for this: Keras's TensorBoard logs
 * `epoch_learning_rate` of epoch e as the rate during e when it runs before
 * ReduceLROnPlateau and as the rate after that epoch's cut when it runs
 * after it (docs/architecture.md, "The learning-rate line"). An event at
 * step s (optimizer iterations when it acted, at an epoch's end or the
 * next one's begin alike) sets the rate from step s + 1 on. Without events
 * (constant, or a LearningRateSchedule's own decay) the points are drawn as
 * recorded and joined. `steps` is each point's global step (NaN: unknown,
 * the recorded value is kept); `real` marks the recorded points.
 */
export function trainedRates(
  xs: readonly number[],
  ys: ReadonlyArray<number | null>,
  steps: readonly number[],
  changes: readonly RateChange[],
): { xs: number[]; ys: Array<number | null>; real: boolean[] | null } {
  const sorted = changes.filter((c) => Number.isFinite(c.step)).sort((a, b) => a.step - b.step);
  if (!sorted.length) return { xs: [...xs], ys: [...ys], real: null };
  const out = { xs: [] as number[], ys: [] as Array<number | null>, real: [] as boolean[] };
  const push = (x: number, y: number | null, real: boolean) => {
    out.xs.push(x);
    out.ys.push(y);
    out.real.push(real);
  };
  // The rate of the step after `next` changes: the first change's old rate before any.
  let next = 0;
  let rate: number | null = sorted[0].old;
  for (let i = 0; i < xs.length; i++) {
    const step = steps[i];
    if (!Number.isFinite(step)) {
      push(xs[i], ys[i], true);
      continue;
    }
    for (; next < sorted.length && sorted[next].step < step; next++) {
      const change = sorted[next];
      // Corners only between two drawn points: the line starts at the first.
      if (i > 0 && out.xs.length && change.new !== rate) {
        const lastX = out.xs[out.xs.length - 1];
        const x = Number.isFinite(change.x) ? Math.min(Math.max(change.x, lastX), xs[i]) : lastX;
        if (x !== lastX || out.ys[out.ys.length - 1] !== rate) push(x, rate, false);
        push(x, change.new, false);
      }
      rate = change.new;
    }
    push(xs[i], rate ?? ys[i], true);
  }
  return out;
}
