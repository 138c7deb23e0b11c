// The event timeline: one lane per event kind, one marker per event, on the
// x axis shared with the metric charts.

import uPlot from "uplot";
import { h } from "./dom";
import { lowerBound } from "./axis";
import { bisect, type Markers } from "./markers";
import type { Placed } from "./model";
import { type PlotEnv, plotOptions, pointerIn, X_AXIS_HEIGHT, yAxisOptions } from "./plotbase";
import { isHollow, tracePath } from "./shapes";

export const LANE_HEIGHT = 26;
const MARKER_RADIUS = 6;
const MARKER_GAP = 3;

export interface TimelineCallbacks {
  hover(events: Placed[], e: MouseEvent | null): void;
  select(event: Placed | null): void;
}

export class Timeline {
  readonly el: HTMLElement;
  private plot: uPlot | null = null;
  private signature = "";
  private lanes: string[] = [];
  private markers: Markers | null = null;
  private env: PlotEnv | null = null;
  private downAt: { x: number; y: number } | null = null;

  constructor(private readonly callbacks: TimelineCallbacks) {
    this.el = h("div", { class: "timeline-plot" });
  }

  update(env: PlotEnv, lanes: string[], markers: Markers, width: number): void {
    const signature = [env.theme.dark, env.xAxis, env.gutter, lanes.join("\u0001")].join("|");
    const unchanged = this.plot && signature === this.signature && markers === this.markers;
    this.env = env;
    this.markers = markers;
    this.lanes = lanes;
    const height = 8 + lanes.length * LANE_HEIGHT + X_AXIS_HEIGHT;
    if (unchanged && this.plot) {
      if (this.plot.width !== width) this.plot.setSize({ width, height });
    } else if (!this.plot || signature !== this.signature) {
      this.destroy();
      this.signature = signature;
      this.plot = new uPlot(this.options(env, width, height), [null, [[], []]] as unknown as uPlot.AlignedData, this.el);
      this.bindPointer(this.plot);
    } else {
      if (this.plot.width !== width) this.plot.setSize({ width, height });
      this.plot.redraw(false);
    }
    this.setWindow(env.window());
  }

  setWindow([min, max]: readonly [number, number]): void {
    const sc = this.plot?.scales.x;
    if (sc && (sc.min !== min || sc.max !== max)) this.plot?.setScale("x", { min, max });
  }

  setWidth(width: number): void {
    if (this.plot && this.plot.width !== width) this.plot.setSize({ width, height: this.plot.height });
  }

  redraw(): void {
    this.plot?.redraw(false);
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
    this.el.replaceChildren();
  }

  private options(env: PlotEnv, width: number, height: number): uPlot.Options {
    const n = this.lanes.length;
    return plotOptions(env, {
      width,
      height,
      showXValues: true,
      yScale: { auto: false, range: () => [0, Math.max(1, n)] },
      yAxis: {
        ...yAxisOptions(env, (_u, splits) => splits.map(() => "")),
        splits: () => [],
        grid: { show: false },
        ticks: { show: false },
      },
      series: [
        {
          facets: [
            { scale: "x", auto: false },
            { scale: "y", auto: false },
          ],
          paths: () => null,
          points: { show: false },
        },
      ],
      hooks: {
        drawClear: [(u) => this.drawLanes(u)],
        draw: [(u) => this.drawMarkers(u)],
      },
    });
  }

  private laneCenter(u: uPlot, lane: number): number {
    return u.valToPos(this.lanes.length - lane - 0.5, "y", true);
  }

  /** Lane stripes and labels (glyph + kind name) in the left gutter. */
  private drawLanes(u: uPlot): void {
    const env = this.env;
    const markers = this.markers;
    if (!env || !markers) return;
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const { left, width } = u.bbox;
    ctx.save();
    ctx.font = `${12 * pr}px Roboto, "Helvetica Neue", Arial, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    this.lanes.forEach((kind, lane) => {
      const yc = this.laneCenter(u, lane);
      const half = (LANE_HEIGHT * pr) / 2;
      if (lane % 2 === 0) {
        ctx.fillStyle = env.theme.grid;
        ctx.globalAlpha = env.theme.dark ? 0.35 : 0.45;
        ctx.fillRect(left, yc - half, width, 2 * half);
        ctx.globalAlpha = 1;
      }
      const style = markers.style(kind);
      const path = new Path2D();
      tracePath(path, style.shape, 10 * pr, yc, 5 * pr);
      if (isHollow(style.shape)) {
        ctx.strokeStyle = style.color;
        ctx.lineWidth = 1.5 * pr;
        ctx.stroke(path);
      } else {
        ctx.fillStyle = style.color;
        ctx.fill(path);
      }
      ctx.fillStyle = env.theme.text;
      ctx.fillText(fitText(ctx, kind, left - 30 * pr), 20 * pr, yc);
    });
    ctx.restore();
  }

  private drawMarkers(u: uPlot): void {
    const markers = this.markers;
    const env = this.env;
    const sc = u.scales.x;
    if (!markers || !env || sc.min == null || sc.max == null) return;
    const xmin = sc.min;
    const xmax = sc.max;
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const r = MARKER_RADIUS * pr;
    const { left, top, width, height } = u.bbox;
    const slack = (xmax - xmin) * ((MARKER_RADIUS + 2) / Math.max(1, u.bbox.width / pr));
    const counts: Array<[number, number, number]> = [];
    let drawn = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left - r, top - 2, width + 2 * r, height + 4);
    ctx.clip();
    this.lanes.forEach((kind, lane) => {
      const list = markers.byLane[lane];
      const shape = markers.style(kind).shape;
      const hollow = isHollow(shape);
      const yc = this.laneCenter(u, lane);
      const paths = new Map<string, Path2D>();
      const xs = markers.laneXs[lane];
      // At most one marker per MARKER_GAP pixels of a lane: at 100,000
      // events the rest would be hidden under it, and skipping them keeps a
      // redraw's cost proportional to the width, not to the event count.
      // Markers that would be drawn over one another (several runs' events
      // at one step) are drawn once, with their count beside it: what is
      // drawn adds up to the counts in the sidebar.
      const end = bisect(list, xmax + slack);
      let i = bisect(list, xmin - slack);
      while (i < end) {
        const p = list[i];
        const px = Math.round(u.valToPos(p.x, "x", true));
        const color = markers.color(p);
        let path = paths.get(color);
        if (!path) paths.set(color, (path = new Path2D()));
        tracePath(path, shape, px, yc, r);
        const next = lowerBound(xs, u.posToVal((px - left) / pr + MARKER_GAP - 0.5 / pr, "x"));
        const after = Math.max(i + 1, Math.min(next, end));
        if (after - i > 1) counts.push([px, yc, after - i]);
        drawn += after - i;
        i = after;
      }
      for (const [color, path] of paths) {
        if (hollow) {
          ctx.strokeStyle = color;
          ctx.lineWidth = 2 * pr;
          ctx.stroke(path);
        } else {
          ctx.fillStyle = color;
          ctx.fill(path);
          // A thin outline in the background colour keeps touching markers apart.
          ctx.strokeStyle = env.theme.surface;
          ctx.lineWidth = pr;
          ctx.stroke(path);
        }
      }
    });
    drawCounts(ctx, counts, r, pr, env.theme.text, env.theme.surface);
    // For tests and automation: events drawn in the window, counted ones included.
    this.el.dataset.accounted = String(drawn);
    this.el.dataset.counted = String(counts.reduce((n, c) => n + c[2], 0));
    const highlighted = [markers.selectedKey, markers.hoveredKey]
      .map((key) => (key ? markers.byKey(key) : undefined))
      .filter((p, i, all): p is Placed => p !== undefined && all.indexOf(p) === i && p.x >= xmin && p.x <= xmax);
    for (const p of highlighted) {
      const px = u.valToPos(p.x, "x", true);
      const yc = this.laneCenter(u, p.lane);
      ctx.beginPath();
      ctx.arc(px, yc, r + 3.5 * pr, 0, 2 * Math.PI);
      ctx.strokeStyle = p.ev.key === markers.selectedKey ? env.theme.accent : env.theme.text;
      ctx.lineWidth = 2 * pr;
      ctx.stroke();
    }
    ctx.restore();
  }

  private eventsAt(u: uPlot, e: MouseEvent): Placed[] {
    const markers = this.markers;
    if (!markers || !this.lanes.length) return [];
    const { left, top } = pointerIn(u, e);
    const laneValue = u.posToVal(top, "y");
    const lane = this.lanes.length - 1 - Math.floor(laneValue);
    if (lane < 0 || lane >= this.lanes.length) return [];
    return markers.near(u, markers.byLane[lane], left, MARKER_RADIUS + 2);
  }

  private bindPointer(u: uPlot): void {
    const over = u.over;
    over.addEventListener("mousemove", (e) => {
      const found = this.eventsAt(u, e);
      over.style.cursor = found.length ? "pointer" : "";
      const key = found[0]?.ev.key ?? null;
      if (this.markers && this.markers.hoveredKey !== key) {
        this.markers.hoveredKey = key;
        u.redraw(false);
      }
      this.callbacks.hover(found, found.length ? e : null);
    });
    over.addEventListener("mouseleave", () => {
      if (this.markers?.hoveredKey) {
        this.markers.hoveredKey = null;
        u.redraw(false);
      }
      this.callbacks.hover([], null);
    });
    over.addEventListener("mousedown", (e) => {
      this.downAt = { x: e.clientX, y: e.clientY };
    });
    over.addEventListener("click", (e) => {
      const moved = this.downAt && Math.hypot(e.clientX - this.downAt.x, e.clientY - this.downAt.y) > 3;
      if (moved) return;
      const found = this.eventsAt(u, e);
      if (found.length) this.callbacks.select(found[0]);
    });
  }
}

/** The number of markers drawn as one, above its right edge, on a halo. */
function drawCounts(
  ctx: CanvasRenderingContext2D,
  counts: Array<[number, number, number]>,
  r: number,
  pr: number,
  text: string,
  halo: string,
): void {
  if (!counts.length) return;
  ctx.font = `bold ${9 * pr}px Roboto, "Helvetica Neue", Arial, sans-serif`;
  ctx.textBaseline = "bottom";
  ctx.textAlign = "left";
  ctx.lineWidth = 3 * pr;
  ctx.strokeStyle = halo;
  ctx.fillStyle = text;
  for (const [px, yc, n] of counts) {
    const label = n > 999 ? "999+" : String(n);
    ctx.strokeText(label, px + r * 0.6, yc - r * 0.3);
    ctx.fillText(label, px + r * 0.6, yc - r * 0.3);
  }
}

/** `text` shortened with an ellipsis to fit `maxWidth` canvas pixels. */
export function fitText(ctx: CanvasRenderingContext2D, text: string, maxWidth: number): string {
  if (ctx.measureText(text).width <= maxWidth) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
