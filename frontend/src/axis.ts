// The shared x axis: step, epoch or wall time relative to the start of the
// experiment, and the conversions between them.

export type XAxis = "step" | "epoch" | "relative";

export const X_AXES: ReadonlyArray<readonly [XAxis, string]> = [
  ["step", "Step"],
  ["epoch", "Epoch"],
  ["relative", "Relative time"],
];

/**
 * Where each epoch of one experiment ended, as a global step. On the epoch
 * axis, x = e is the end of epoch e (Keras writes `epoch_*` metrics at
 * step = e when epoch e ends), so a step-indexed point is placed by
 * interpolating between known epoch ends.
 */
export class EpochMap {
  private readonly epochs: number[] = [];
  private readonly ends: number[] = [];

  constructor(pairs: Map<number, number>) {
    const sorted = [...pairs.entries()].sort((a, b) => a[0] - b[0]);
    for (const [epoch, end] of sorted) {
      // A resumed or restarted fit can repeat epochs; keep ends increasing so
      // that interpolation stays monotonic.
      if (this.ends.length && end <= this.ends[this.ends.length - 1]) continue;
      this.epochs.push(epoch);
      this.ends.push(end);
    }
  }

  /** Epoch e ends at (e + 1) * stepsPerEpoch: Keras's `train_begin` data. */
  static fromStepsPerEpoch(stepsPerEpoch: number, lastEpoch: number): EpochMap {
    const pairs = new Map<number, number>();
    for (let e = 0; e <= lastEpoch; e++) pairs.set(e, (e + 1) * stepsPerEpoch);
    return new EpochMap(pairs);
  }

  get size(): number {
    return this.ends.length;
  }

  /** The global step at the end of `epoch`, when known or inferable. */
  endOf(epoch: number): number {
    const i = lowerBound(this.epochs, epoch);
    if (i < this.epochs.length && this.epochs[i] === epoch) return this.ends[i];
    return this.interpolate(this.epochs, this.ends, epoch);
  }

  /** The (fractional) epoch position of a global step. */
  stepToEpoch(step: number): number {
    return this.interpolate(this.ends, this.epochs, step);
  }

  private interpolate(from: number[], to: number[], value: number): number {
    const n = from.length;
    if (n === 0) return Number.NaN;
    if (n === 1) {
      // One epoch end known: assume every epoch took as many steps.
      const perEpoch = this.ends[0] / (this.epochs[0] + 1);
      if (!(perEpoch > 0)) return Number.NaN;
      return from === this.ends ? this.epochs[0] + (value - this.ends[0]) / perEpoch : this.ends[0] + (value - this.epochs[0]) * perEpoch;
    }
    let i = lowerBound(from, value);
    if (i === 0) i = 1;
    if (i >= n) i = n - 1;
    const f0 = from[i - 1];
    const f1 = from[i];
    const t = (value - f0) / (f1 - f0);
    return to[i - 1] + t * (to[i] - to[i - 1]);
  }
}

/** First index whose value is >= `x` in an ascending array. */
export function lowerBound(values: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > `x` in an ascending array. */
export function upperBound(values: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
