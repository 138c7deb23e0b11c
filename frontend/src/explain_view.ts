// An event's decision drawn on the chart of the metric it monitored (explain.ts
// says what to draw): the hovered event's, else the selected one's, in the
// colour of the monitored run's line. Marks: the patience window and the
// cooldown shaded, the improvement threshold and the baseline as lines, the
// best value, the value where the callback acted, and the restored epoch.

import type uPlot from "uplot";
import { type EpochSeries, type Explanation, explain, monitorSource, num } from "./explain";
import type { Markers } from "./markers";
import type { ChartSpec, DataStore, Ev, SeriesSpec } from "./model";
import { scalarKey } from "./model";
import { verticalRule } from "./plotbase";

// Keras's TensorBoard writes each batch's loss as this (update_freq="batch" or N).
const BATCH_LOSS = "batch_loss";

export interface ActiveExplanation {
  ev: Ev;
  explanation: Explanation;
  series: SeriesSpec;
}

/** Epoch -> finite value of a series drawn from an epoch-indexed tag. */
function epochSeries(s: SeriesSpec): EpochSeries | null {
  if (!s.recorded) return null;
  const out: EpochSeries = {};
  s.recorded.forEach((epoch, i) => {
    const y = s.ys[i];
    if (y != null && Number.isFinite(y)) out[epoch] = y;
  });
  return out;
}

/** The decision a chart of `spec` draws: the hovered event's if it monitored this chart's metric, else the selected one's. */
export function activeOn(spec: ChartSpec, markers: Markers | null): ActiveExplanation | null {
  if (!markers) return null;
  for (const key of [markers.hoveredKey, markers.selectedKey]) {
    const placed = key ? markers.byKey(key) : undefined;
    const monitor = placed?.ev.data.monitor;
    if (placed?.ev.kind === "nan_terminated" && spec.tag === BATCH_LOSS) {
      // A NaN stop is drawn on its run's batch loss, by step (the batch it happened at).
      const series = spec.series.find((s) => s.run === placed.ev.run && s.recorded && (s.fit === null || s.fit === (placed.ev.fit ?? 0)));
      const explanation = explain(placed.ev);
      if (series && explanation) return { ev: placed.ev, explanation, series };
    }
    if (!placed || typeof monitor !== "string") continue;
    const [run, tag] = monitorSource(placed.ev.run, monitor);
    if (tag !== spec.tag) continue;
    const fit = placed.ev.fit ?? 0;
    const series = spec.series.find((s) => s.run === run && s.recorded && (s.fit === null || s.fit === fit));
    const values = series ? epochSeries(series) : null;
    if (!series || !values) continue;
    const explanation = explain(placed.ev, values);
    if (explanation && explanation.metric_written) return { ev: placed.ev, explanation, series };
  }
  return null;
}

/** The sentence for the details panel, with the monitored series when it is loaded. */
export function sentenceOf(ev: Ev, data: DataStore): { sentence: string; drawnOn: string | null } | null {
  const monitor = ev.data.monitor;
  let series: EpochSeries | null = null;
  let drawnOn: string | null = null;
  if (typeof monitor === "string") {
    const [run, tag] = monitorSource(ev.run, monitor);
    const tags = data.tags.get(ev.run);
    const loaded = data.scalars.get(scalarKey(run, tag));
    if (tags && !(tags[run] ?? []).includes(tag)) series = {};
    else if (loaded && loaded.x === "epoch") {
      series = {};
      loaded.step.forEach((epoch, i) => {
        const y = loaded.value[i];
        if (y != null && Number.isFinite(y) && series) series[epoch] = y;
      });
    }
    if (tags && (tags[run] ?? []).includes(tag)) drawnOn = `${tag} of ${run}`;
  }
  const out = explain(ev, series);
  return out ? { sentence: out.sentence, drawnOn } : null;
}

/** x of a recorded step (an epoch of an epoch_* tag; fractional too) on the chart's axis, from the series' own points. */
function xOf(s: SeriesSpec, epoch: number): number | null {
  const recorded = s.recorded ?? [];
  const exact = recorded.indexOf(epoch);
  if (exact >= 0) return s.xs[exact];
  if (recorded.length < 2) return recorded.length ? s.xs[0] + (epoch - recorded[0]) : null;
  let j = recorded.findIndex((e) => e > epoch);
  if (j <= 0) j = j === 0 ? 1 : recorded.length - 1;
  const [e0, e1] = [recorded[j - 1], recorded[j]];
  return s.xs[j - 1] + ((epoch - e0) * (s.xs[j] - s.xs[j - 1])) / (e1 - e0);
}

/** Text beside a mark, kept inside the plot: flipped left of `x` or below `y` near the right or top edge. */
function label(u: uPlot, text: string, x: number, y: number, color: string, align: CanvasTextAlign = "left"): void {
  const { ctx } = u;
  const pr = devicePixelRatio || 1;
  const { left, top, width } = u.bbox;
  ctx.font = `${10 * pr}px Roboto, "Helvetica Neue", Arial, sans-serif`;
  const w = ctx.measureText(text).width;
  if (align === "left" && x + w > left + width - 2 * pr) {
    align = "right";
    x -= 14 * pr;
  }
  ctx.textAlign = align;
  ctx.textBaseline = "bottom";
  ctx.fillStyle = color;
  ctx.fillText(text, x, y - 11 * pr < top ? y + 20 * pr : y);
}

/** Draws `active` on `u` (canvas pixels); returns nothing, marks only. */
export function drawExplanation(u: uPlot, active: ActiveExplanation, surface: string): void {
  const { ctx } = u;
  const { explanation: ex, series: s } = active;
  const pr = devicePixelRatio || 1;
  const { left, top, width, height } = u.bbox;
  const color = s.color;
  const px = (epoch: number) => {
    const x = xOf(s, epoch);
    return x == null ? null : u.valToPos(x, "x", true);
  };
  const py = (value: number) => Math.min(top + height, Math.max(top, u.valToPos(value, "y", true)));
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  const shade = (span: [number, number], alpha: number, name: string, dashed: boolean) => {
    const x0 = px(span[0] - 0.5);
    const x1 = px(span[1] + 0.5);
    if (x0 == null || x1 == null) return;
    ctx.globalAlpha = alpha;
    ctx.fillStyle = color;
    ctx.fillRect(x0, top, x1 - x0, height);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.lineWidth = pr;
    ctx.setLineDash(dashed ? [3 * pr, 3 * pr] : []);
    ctx.strokeRect(x0 + 0.5, top + 0.5, x1 - x0 - 1, height - 1);
    ctx.setLineDash([]);
    label(u, name, x0 + 3 * pr, top + height - 3 * pr, color);
  };
  if (ex.window) shade(ex.window, 0.14, "patience window", false);
  if (ex.cooldown) shade(ex.cooldown, 0.06, "cooldown", true);
  const hline = (value: number, name: string, dash: number[]) => {
    const y = py(value);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.2 * pr;
    ctx.setLineDash(dash.map((d) => d * pr));
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.setLineDash([]);
    label(u, name, left + width - 4 * pr, y - 2 * pr, color, "right");
  };
  if (ex.threshold !== null) hline(ex.threshold, `threshold ${ex.mode === "max" ? "≥" : "≤"} ${num(ex.threshold)}`, [6, 4]);
  if (ex.baseline !== null) hline(ex.baseline, `baseline ${num(ex.baseline)}`, [1.5, 3]);
  if (ex.restored_epoch !== null) {
    const x = px(ex.restored_epoch);
    if (x != null) {
      verticalRule(u, x, color, 2 * pr);
      label(u, "restored", x + 3 * pr, top + 28 * pr, color);
    }
  }
  const dot = (epoch: number | null, value: number, name: string, filled: boolean) => {
    const x = epoch === null ? null : px(epoch);
    if (x == null) return;
    const y = py(value);
    ctx.beginPath();
    ctx.arc(x, y, 5.5 * pr, 0, 2 * Math.PI);
    ctx.fillStyle = filled ? color : surface;
    ctx.fill();
    ctx.lineWidth = 2 * pr;
    ctx.strokeStyle = filled ? surface : color;
    ctx.stroke();
    label(u, name, x + 7 * pr, y - 4 * pr, color);
  };
  if (ex.non_finite?.step != null) {
    const x = px(ex.non_finite.step);
    if (x != null) {
      verticalRule(u, x, color, 2 * pr, [2 * pr, 2 * pr]);
      label(u, `loss ${ex.non_finite.value}`, x + 3 * pr, top + 40 * pr, color);
    }
  }
  if (ex.last_finite?.step != null) dot(ex.last_finite.step, ex.last_finite.value, "last finite", true);
  if (ex.decision) dot(ex.decision.epoch, ex.decision.value, "acted", false);
  if (ex.best) dot(ex.best.epoch, ex.best.value, "best", true);
  ctx.restore();
}
