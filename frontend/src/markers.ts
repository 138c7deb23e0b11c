// Event markers shared by the timeline and the metric charts: which events
// fall in the visible window, their colour and shape, drawing, hit-testing.

import type uPlot from "uplot";
import { lowerBound, upperBound } from "./axis";
import { type KindStyle, kindStyle, runColor } from "./colors";
import type { Placed } from "./model";
import { verticalRule } from "./plotbase";
import { isHollow, tracePath } from "./shapes";
import type { ColorBy } from "./state";

/** Why a fit ended early: drawn last, on top of anything at the same step. */
const ENDINGS = new Set(["early_stop", "nan_terminated"]);
// Kinds that happen all the time and say little on their own.
const ROUTINE = new Set(["checkpoint_saved"]);
// Any other kind this many times per run or more (a user's per-batch note,
// a schedule's lr_change every epoch) is routine too; endings and the
// train_begin/train_end that bound fits never are.
const ROUTINE_PER_RUN = 10;
const TICK_PX = 7;

export class Markers {
  /** All placed events, ascending x. */
  readonly all: Placed[];
  readonly xs: Float64Array;
  /** Per lane, the ascending x of its events (for skipping by pixel). */
  readonly laneXs: Float64Array[];
  selectedKey: string | null = null;
  hoveredKey: string | null = null;
  /** Events that ended a fit early, ascending x: drawn on top on the charts. */
  readonly endings: Placed[];
  /** Kinds drawn on the charts as short ticks at the top, not full-height lines. */
  readonly routine: Set<string>;
  private readonly styles = new Map<string, KindStyle>();
  private keyIndex: Map<string, Placed> | null = null;

  constructor(
    readonly byLane: Placed[][],
    readonly colorBy: ColorBy,
    readonly dark: boolean,
  ) {
    this.all = byLane.flat().sort((a, b) => a.x - b.x);
    this.xs = Float64Array.from(this.all, (p) => p.x);
    this.laneXs = byLane.map((lane) => Float64Array.from(lane, (p) => p.x));
    this.endings = this.all.filter((p) => ENDINGS.has(p.ev.kind));
    this.routine = new Set();
    for (const lane of byLane) {
      const kind = lane[0]?.ev.kind;
      if (!kind || ENDINGS.has(kind)) continue;
      const runs = new Set(lane.map((p) => p.ev.run)).size;
      if (ROUTINE.has(kind) || (!kind.startsWith("train_") && lane.length >= ROUTINE_PER_RUN * runs)) this.routine.add(kind);
    }
    // With nothing but routine kinds shown, they are what the user asked to see.
    if (byLane.every((lane) => !lane.length || this.routine.has(lane[0].ev.kind))) this.routine.clear();
  }

  byKey(key: string): Placed | undefined {
    if (!this.keyIndex) this.keyIndex = new Map(this.all.map((p) => [p.ev.key, p]));
    return this.keyIndex.get(key);
  }

  style(kind: string): KindStyle {
    let s = this.styles.get(kind);
    if (!s) this.styles.set(kind, (s = kindStyle(kind, this.dark)));
    return s;
  }

  color(p: Placed): string {
    return this.colorBy === "run" ? runColor(p.runIndex, this.dark) : this.style(p.ev.kind).color;
  }

  /** Index range [i0, i1) of ascending `xs` that lies in [min, max]. */
  static range(xs: Float64Array, min: number, max: number): [number, number] {
    return [lowerBound(xs, min), upperBound(xs, max)];
  }

  /** Events within `radius` CSS px of the pointer's x, nearest first. */
  near(u: uPlot, list: Placed[], left: number, radius: number): Placed[] {
    if (!list.length) return [];
    const a = u.posToVal(left - radius, "x");
    const b = u.posToVal(left + radius, "x");
    const out: Placed[] = [];
    let i = bisect(list, Math.min(a, b));
    for (; i < list.length && list[i].x <= Math.max(a, b); i++) out.push(list[i]);
    out.sort((p, q) => Math.abs(u.valToPos(p.x, "x") - left) - Math.abs(u.valToPos(q.x, "x") - left));
    return out;
  }

  /**
   * Vertical lines at every visible event, with the kind's glyph on top,
   * beneath the metric lines. One line per pixel column: with 100,000
   * events most would be drawn on top of each other anyway.
   */
  drawLines(u: uPlot, selectedColor: string): void {
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    const sc = u.scales.x;
    if (sc.min == null || sc.max == null) return;
    const [i0, i1] = Markers.range(this.xs, sc.min, sc.max);
    const lines = new Map<string, Path2D>();
    const glyphs = new Map<string, Path2D>();
    const hollow = new Map<string, Path2D>();
    const r = 3.5 * pr;
    // One line per pixel column: after drawing at a column, jump past every
    // event in it, so the cost follows the chart's width, not the event count.
    let i = i0;
    while (i < i1) {
      const p = this.all[i];
      const px = Math.round(u.valToPos(p.x, "x", true));
      const color = this.color(p);
      let path = lines.get(color);
      if (!path) lines.set(color, (path = new Path2D()));
      path.moveTo(px + 0.5, top + 2 * r + 2 * pr);
      path.lineTo(px + 0.5, this.routine.has(p.ev.kind) ? top + 2 * r + (2 + TICK_PX) * pr : top + height);
      const shape = this.style(p.ev.kind).shape;
      const target = isHollow(shape) ? hollow : glyphs;
      let g = target.get(color);
      if (!g) target.set(color, (g = new Path2D()));
      tracePath(g, shape, px + 0.5, top + r + pr, r);
      const next = lowerBound(this.xs, u.posToVal((px + 0.5 - left) / pr, "x"));
      i = Math.max(i + 1, Math.min(next, i1));
    }
    const selected = this.selectedKey ? this.byKey(this.selectedKey) ?? null : null;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.lineWidth = pr;
    ctx.globalAlpha = 0.55;
    for (const [color, path] of lines) {
      ctx.strokeStyle = color;
      ctx.stroke(path);
    }
    ctx.globalAlpha = 1;
    for (const [color, path] of glyphs) {
      ctx.fillStyle = color;
      ctx.fill(path);
    }
    ctx.lineWidth = 1.2 * pr;
    for (const [color, path] of hollow) {
      ctx.strokeStyle = color;
      ctx.stroke(path);
    }
    this.drawEndings(u, sc.min, sc.max, r);
    if (selected && selected.x >= sc.min && selected.x <= sc.max) {
      const px = Math.round(u.valToPos(selected.x, "x", true)) + 0.5;
      verticalRule(u, px, selectedColor, 2 * pr, [4 * pr, 3 * pr]);
    }
    ctx.restore();
  }

  /** Early stops and NaN terminations, over whatever else shares their
   * step (train_end always does), each with its own line and glyph on a
   * backing disc, so the reason a fit ended is what one sees. */
  private drawEndings(u: uPlot, min: number, max: number, r: number): void {
    if (!this.endings.length) return;
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const { top, height } = u.bbox;
    const surface = getComputedStyle(u.root).getPropertyValue("--cbe-surface").trim() || (this.dark ? "#202124" : "#ffffff");
    for (let i = bisect(this.endings, min); i < this.endings.length && this.endings[i].x <= max; i++) {
      const p = this.endings[i];
      const px = Math.round(u.valToPos(p.x, "x", true)) + 0.5;
      const color = this.color(p);
      const yc = top + r + pr;
      ctx.globalAlpha = 0.9;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5 * pr;
      ctx.beginPath();
      ctx.moveTo(px, yc + r);
      ctx.lineTo(px, top + height);
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillStyle = surface;
      ctx.beginPath();
      ctx.arc(px, yc, r + 1.5 * pr, 0, 2 * Math.PI);
      ctx.fill();
      const shape = this.style(p.ev.kind).shape;
      const g = new Path2D();
      tracePath(g, shape, px, yc, r * 1.15);
      if (isHollow(shape)) {
        ctx.lineWidth = 1.4 * pr;
        ctx.stroke(g);
      } else {
        ctx.fillStyle = color;
        ctx.fill(g);
      }
    }
  }
}

/** First index in `list` (ascending x) with x >= `x`. */
export function bisect(list: Placed[], x: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].x < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
