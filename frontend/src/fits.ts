// Several fits into one log_dir. Keras numbers every fit's epochs from its
// initial_epoch and a fresh model restarts the step count, so neither tells
// fits apart; each fit's `train_begin` does, by its wall time. A point or an
// event belongs to the last fit that had begun when it was written.

import type { CallbackEvent } from "./api";

export interface Fit {
  index: number;
  /** Wall time of its train_begin. */
  wall: number;
  /** The global step it began at. */
  step: number;
  initialEpoch: number;
  stepsPerEpoch: number | null;
  /** The last epoch it trained, from its train_end; null while running or unknown. */
  lastEpoch: number | null;
}


/** The fits of one experiment, from its events (any order), by start time. */
export function fitsOf(events: Iterable<CallbackEvent>): Fit[] {
  const begins: CallbackEvent[] = [];
  const ends: CallbackEvent[] = [];
  for (const e of events) {
    if (e.kind === "train_begin") begins.push(e);
    else if (e.kind === "train_end") ends.push(e);
  }
  begins.sort((a, b) => a.wall_time - b.wall_time);
  const fits: Fit[] = [];
  for (const b of begins) {
    // One fit's train_begin seen twice (two runs of an experiment) is one
    // start; a small model's fits can begin within a second of each other.
    if (fits.length && b.wall_time === fits[fits.length - 1].wall) continue;
    const spe = b.data.steps;
    fits.push({
      index: fits.length,
      wall: b.wall_time,
      step: b.step,
      initialEpoch: typeof b.data.initial_epoch === "number" ? b.data.initial_epoch : b.epoch ?? 0,
      stepsPerEpoch: typeof spe === "number" && spe > 0 ? spe : null,
      lastEpoch: null,
    });
  }
  for (const e of ends) {
    const fit = fits[fitAt(fits, e.wall_time)];
    const last = typeof e.data.last_epoch === "number" ? e.data.last_epoch : e.epoch;
    if (fit && typeof last === "number") fit.lastEpoch = last;
  }
  return fits;
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

/**
 * A learning rate as drawn: where it changed between two points and an
 * lr_change event lies between them, the line jumps at the event (Keras logs
 * the rate once per epoch, before or after a callback changed it depending
 * on the callbacks' order; the event says when). `real` marks the recorded
 * points (the corners added are not).
 */
export function lrSteps(
  xs: number[],
  ys: Array<number | null>,
  changes: readonly number[],
): { xs: number[]; ys: Array<number | null>; real: boolean[] } {
  const out = { xs: [] as number[], ys: [] as Array<number | null>, real: [] as boolean[] };
  const sorted = [...changes].sort((a, b) => a - b);
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    const prev = i ? ys[i - 1] : null;
    if (i && y != null && prev != null && y !== prev) {
      const at = sorted.find((c) => c >= xs[i - 1] && c <= xs[i]);
      if (at !== undefined && at > xs[i - 1]) {
        out.xs.push(at);
        out.ys.push(prev);
        out.real.push(false);
        if (at < xs[i]) {
          out.xs.push(at);
          out.ys.push(y);
          out.real.push(false);
        }
      } else if (at !== undefined) {
        // The event is at the previous point: the new value starts there.
        out.xs.push(at);
        out.ys.push(y);
        out.real.push(false);
      }
    }
    out.xs.push(xs[i]);
    out.ys.push(y);
    out.real.push(true);
  }
  return out;
}
