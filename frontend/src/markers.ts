// Event markers shared by the timeline and the metric charts: which events
// fall in the visible window, their colour and shape, drawing, hit-testing.

import type uPlot from "uplot";
import { lowerBound, upperBound } from "./axis";
import { type KindStyle, kindStyle, runColor } from "./colors";
import type { Placed } from "./model";
import { isHollow, tracePath } from "./shapes";
import type { ColorBy } from "./state";

export class Markers {
  /** All placed events, ascending x. */
  readonly all: Placed[];
  readonly xs: Float64Array;
  /** Per lane, the ascending x of its events (for skipping by pixel). */
  readonly laneXs: Float64Array[];
  selectedKey: string | null = null;
  hoveredKey: string | null = null;
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
      path.lineTo(px + 0.5, top + height);
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
    if (selected && selected.x >= sc.min && selected.x <= sc.max) {
      const px = Math.round(u.valToPos(selected.x, "x", true)) + 0.5;
      ctx.strokeStyle = selectedColor;
      ctx.lineWidth = 2 * pr;
      ctx.setLineDash([4 * pr, 3 * pr]);
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, top + height);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.restore();
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
