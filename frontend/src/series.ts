// A metric series as drawn: its points placed on the x axis, one part per
// fit when several fits wrote into one log_dir, and what the charts say
// about fits whose points TensorBoard did not keep.

import type { ScalarSeries } from "./api";
import type { EpochMap, XAxis } from "./axis";
import { epochEndStep, epochsTrained, type Fit, fitAt, fitsRunning, stepEpoch } from "./fits";

/** Where an experiment's points go: its start, epoch ends and fits. */
export interface PlaceInfo {
  t0: number;
  epochs: EpochMap | null;
  fits: Fit[];
}

export interface SeriesPart {
  fit: number;
  /** The fits whose points these may be, when several were running as they were written
   * (TensorBoard merges every writer's points of a tag): drawn as one line, said in a note. */
  merged: number[] | null;
  xs: number[];
  ys: Array<number | null>;
  bad: number[];
  /** Each point's step as recorded (its epoch, in an epoch-indexed series). */
  recorded: number[];
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
  const byFit = new Map<string, SeriesPart>();
  const nonfinite = Array.isArray(series.nonfinite) ? (series.nonfinite as Array<string | null>) : null;
  let unmapped = false;
  for (let i = 0; i < n; i++) {
    const known = series.fit?.[i];
    const own = fits && known != null && known >= 0 && known < fits.length ? known : null;
    const running = fits && own == null ? fitsRunning(fits, series.wall_time[i]) : [];
    const fitIndex = own ?? (running.length ? running[0] : fits ? fitAt(fits, series.wall_time[i]) : 0);
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
    const partKey = running.length ? running.join("+") : String(fitIndex);
    let part = byFit.get(partKey);
    if (!part) {
      const merged = running.length ? running : null;
      byFit.set(partKey, (part = { fit: fitIndex, merged, xs: [], ys: [], bad: [], recorded: [], steps: [] }));
    }
    part.xs.push(x);
    part.ys.push(series.value[i]);
    part.recorded.push(series.step[i]);
    part.steps.push(step);
    if (nonfinite?.[i]) part.bad.push(x);
  }
  const parts = [...byFit.values()].sort((a, b) => a.fit - b.fit || Number(!!a.merged) - Number(!!b.merged));
  // Wall times of a restarted run can go backwards; uPlot wants ascending x.
  for (const part of parts) {
    const { xs, ys, recorded, steps } = part;
    for (let i = 1; i < xs.length; i++) {
      if (xs[i] < xs[i - 1]) {
        const order = xs.map((_, j) => j).sort((a, b) => xs[a] - xs[b]);
        part.xs = order.map((j) => xs[j]);
        part.ys = order.map((j) => ys[j]);
        part.recorded = order.map((j) => recorded[j]);
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

/**
 * Fits whose points TensorBoard had but left out of its answer. Its data
 * server (--load_fast=true) keeps of a tag only the points below where a
 * later fit's points begin (a record deletes the earlier ones at or after its
 * step), so a fit is named when it trained up to or past where a later fit's
 * points begin and none of its own points are there. Fewer points than
 * epochs trained are no sign: an epoch that ended in an exception raised
 * before TensorBoard's turn was never written.
 */
export function droppedFits(parts: SeriesPart[], fits: Fit[], epochIndexed: boolean): number[] {
  if (fits.length < 2 || !parts.length) return [];
  const out: number[] = [];
  for (const fit of fits) {
    const trained = epochsTrained(fit);
    if (trained == null || trained < 1 || fit.lastEpoch == null) continue;
    let restart = Number.POSITIVE_INFINITY;
    for (const part of parts) if (part.fit > fit.index) for (const r of part.recorded) restart = Math.min(restart, r);
    if (restart === Number.POSITIVE_INFINITY) continue;
    const own = parts.find((p) => p.fit === fit.index)?.recorded ?? [];
    // The last step (or epoch) the fit wrote, when known.
    const last = epochIndexed ? fit.lastEpoch : epochEndStep(fit, fit.lastEpoch);
    if (Number.isFinite(last) ? restart > last || own.some((r) => r >= restart) : own.length > 0) continue;
    out.push(fit.index);
  }
  return out;
}
