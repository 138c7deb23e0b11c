// A metric series as drawn: its points placed on the x axis, one part per
// fit when several fits wrote into one log_dir, and what the charts say
// about fits whose points TensorBoard did not keep.

import type { ScalarSeries } from "./api";
import type { EpochMap, XAxis } from "./axis";
import { epochEndStep, epochsTrained, type Fit, fitAt, stepEpoch } from "./fits";

/** Where an experiment's points go: its start, epoch ends and fits. */
export interface PlaceInfo {
  t0: number;
  epochs: EpochMap | null;
  fits: Fit[];
}

export interface SeriesPart {
  fit: number;
  xs: number[];
  ys: Array<number | null>;
  bad: number[];
  /** Each point's global step (the end of its epoch for an epoch-indexed one); NaN when unknown. */
  steps: number[];
}

/** A series' points on the axis, one part per fit (one part without fits), each ascending in x. */
export function seriesParts(
  series: ScalarSeries,
  axis: XAxis,
  info: PlaceInfo | undefined,
): { parts: SeriesPart[]; unmapped: boolean } {
  const n = series.step.length;
  const fits = info && info.fits.length > 1 ? info.fits : null;
  const byFit = new Map<number, SeriesPart>();
  const nonfinite = Array.isArray(series.nonfinite) ? (series.nonfinite as Array<string | null>) : null;
  let unmapped = false;
  for (let i = 0; i < n; i++) {
    const fitIndex = fits ? fitAt(fits, series.wall_time[i]) : 0;
    const fit = fits?.[fitIndex];
    let step = series.step[i];
    if (series.x === "epoch") {
      step = series.global_step?.[i] ?? Number.NaN;
      if (!Number.isFinite(step)) step = fit ? epochEndStep(fit, series.step[i]) : info?.epochs ? info.epochs.endOf(series.step[i]) : Number.NaN;
    }
    let x: number;
    if (axis === "relative") x = info ? series.wall_time[i] - info.t0 : Number.NaN;
    else if (axis === series.x) x = series.step[i];
    else if (axis === "step") x = step;
    else x = fit ? stepEpoch(fit, series.step[i]) : info?.epochs ? info.epochs.stepToEpoch(series.step[i]) : Number.NaN;
    if (!Number.isFinite(x)) {
      unmapped = true;
      continue;
    }
    let part = byFit.get(fitIndex);
    if (!part) byFit.set(fitIndex, (part = { fit: fitIndex, xs: [], ys: [], bad: [], steps: [] }));
    part.xs.push(x);
    part.ys.push(series.value[i]);
    part.steps.push(step);
    if (nonfinite?.[i]) part.bad.push(x);
  }
  const parts = [...byFit.values()].sort((a, b) => a.fit - b.fit);
  // Wall times of a restarted run can go backwards; uPlot wants ascending x.
  for (const part of parts) {
    const { xs, ys, steps } = part;
    for (let i = 1; i < xs.length; i++) {
      if (xs[i] < xs[i - 1]) {
        const order = xs.map((_, j) => j).sort((a, b) => xs[a] - xs[b]);
        part.xs = order.map((j) => xs[j]);
        part.ys = order.map((j) => ys[j]);
        part.steps = order.map((j) => steps[j]);
        part.bad.sort((a, b) => a - b);
        break;
      }
    }
  }
  return { parts, unmapped };
}

/** Earlier fits of a run in lighter shades of its colour, the latest in full. */
export function fitShade(color: string, fit: number, count: number): string {
  if (count < 2 || !/^#[0-9a-f]{6}$/i.test(color)) return color;
  const alpha = Math.round(255 * (0.35 + (0.65 * (fit + 1)) / count));
  return `${color}${Math.min(255, alpha).toString(16).padStart(2, "0")}`;
}

export function isLearningRate(tag: string): boolean {
  return /learning_rate|(^|[_/])lr$/.test(tag);
}

/** Fits of the experiment that trained but have no points in `parts`, or fewer than they trained. */
export function droppedFits(parts: SeriesPart[], fits: Fit[], epochIndexed: boolean): number[] {
  if (fits.length < 2 || !parts.length) return [];
  const counts = new Map(parts.map((p) => [p.fit, p.xs.length]));
  return fits
    .filter((f) => {
      const trained = epochsTrained(f);
      if (trained == null || trained < 1) return false;
      const n = counts.get(f.index) ?? 0;
      return n === 0 || (epochIndexed && n < trained);
    })
    .map((f) => f.index);
}

