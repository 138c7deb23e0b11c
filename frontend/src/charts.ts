// Metric charts beside the timeline: one per scalar tag, a line per run,
// and a vertical marker at every visible event.

import uPlot from "uplot";
import { lowerBound, upperBound } from "./axis";
import { button, h } from "./dom";
import { fmtNumber } from "./format";
import { activeOn, drawExplanation } from "./explain_view";
import type { Markers } from "./markers";
import type { ChartSpec, Placed, SeriesSpec } from "./model";
import { isLearningRate } from "./series";
import { type PlotEnv, plotOptions, pointerIn, yAxisOptions } from "./plotbase";

export const CHART_HEIGHT = 210;
const LINE_HOVER_PX = 4;

export interface ChartCallbacks {
  hover(events: Placed[], e: MouseEvent | null): void;
  select(event: Placed | null): void;
  remove(tag: string): void;
}

/** The legend's name of a series: the run, and its fit when the experiment had several. */
export function seriesLabel(s: SeriesSpec): string {
  if (s.merged?.length) return `${s.run} · fits ${s.merged.join("+")}`;
  return s.fit == null ? s.run : `${s.run} · fit ${s.fit}`;
}

/** Indices of the recorded points (not the corners of a learning-rate step). */
function realPoints(s: SeriesSpec): number[] | null {
  if (!s.real) return null;
  const out: number[] = [];
  s.real.forEach((r, i) => r && out.push(i));
  return out;
}

/** The last finite value at or before index `i`, and whether a NaN/Inf came after it. */
function lastFinite(s: SeriesSpec, i: number): { value: number | null; bad: boolean } {
  for (let j = i; j >= 0; j--) {
    const y = s.ys[j];
    if (y != null && Number.isFinite(y)) return { value: y, bad: s.bad.some((x) => x > s.xs[j] && x <= s.xs[i]) };
  }
  return { value: null, bad: s.bad.length > 0 };
}

/** y range of the points inside the x window, padded; log-aware. */
function yRange(series: SeriesSpec[], [x0, x1]: readonly [number, number], log: boolean): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    // One point either side of the window, so lines leaving it stay in range.
    const i0 = Math.max(0, lowerBound(s.xs, x0) - 1);
    const i1 = Math.min(s.xs.length, upperBound(s.xs, x1) + 1);
    for (let i = i0; i < i1; i++) {
      const y = s.ys[i];
      if (y == null || !Number.isFinite(y) || (log && y <= 0)) continue;
      if (y < min) min = y;
      if (y > max) max = y;
    }
  }
  if (!Number.isFinite(min)) return log ? [0.1, 1] : [0, 1];
  if (log) {
    // Padding in log space, so the lowest line does not sit on the axis.
    // uPlot's log ticks start at the scale's minimum, so the padded range is
    // snapped to round values by its own rangeLog.
    const span = Math.log10(max / min) || 1;
    const pad = 10 ** (span * 0.06);
    const [lo, hi] = uPlot.rangeLog(min / pad, max * pad, 10, false);
    return [lo ?? min / pad, hi ?? max * pad];
  }
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    return [min - pad, max + pad];
  }
  const pad = (max - min) * 0.06;
  return [min - pad, max + pad];
}

class ChartCard {
  readonly el: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly legendEl: HTMLElement;
  private readonly notesEl: HTMLElement;
  private readonly explainEl: HTMLElement;
  private readonly statusEl: HTMLElement;
  private readonly logButton: HTMLButtonElement;
  private plot: uPlot | null = null;
  private signature = "";
  private envSignature = "";
  private spec: ChartSpec;
  private env: PlotEnv | null = null;
  private markers: Markers | null = null;
  private values: HTMLElement[] = [];
  private log: boolean;
  private downAt: { x: number; y: number } | null = null;

  constructor(
    spec: ChartSpec,
    private readonly callbacks: ChartCallbacks,
  ) {
    this.spec = spec;
    this.log = isLearningRate(spec.tag);
    this.logButton = button("log", () => this.toggleLog(), {
      class: "chip-button",
      title: "Logarithmic y axis",
      attrs: { "aria-pressed": String(this.log), "aria-label": `Logarithmic y axis for ${spec.tag}` },
    });
    this.statusEl = h("span", { class: "chart-status" });
    this.plotEl = h("div", { class: "chart-plot" });
    this.legendEl = h("div", { class: "chart-legend" });
    this.notesEl = h("div", { class: "chart-notes" });
    this.explainEl = h("p", { class: "chart-explain", attrs: { hidden: true, "aria-live": "polite" } });
    this.el = h(
      "section",
      { class: "card chart-card", attrs: { "data-tag": spec.tag, "aria-label": `Metric ${spec.tag}` } },
      h(
        "header",
        { class: "card-header" },
        h("h3", { class: "chart-title", text: spec.tag, title: spec.tag }),
        this.statusEl,
        h("span", { class: "spacer" }),
        this.logButton,
        button("×", () => callbacks.remove(spec.tag), {
          class: "icon-button",
          title: "Remove this chart",
          attrs: { "aria-label": `Remove chart ${spec.tag}` },
        }),
      ),
      this.plotEl,
      this.legendEl,
      this.explainEl,
      this.notesEl,
    );
  }

  update(spec: ChartSpec, env: PlotEnv, markers: Markers, width: number): void {
    const envSignature = [env.theme.dark, env.xAxis, env.gutter].join("|");
    if (this.plot && spec === this.spec && markers === this.markers && envSignature === this.envSignature) {
      if (this.plot.width !== width) this.plot.setSize({ width, height: CHART_HEIGHT });
      this.setWindow(env.window());
      return;
    }
    this.env = env;
    this.envSignature = envSignature;
    this.markers = markers;
    const parts: string[] = [];
    if (spec.loading) parts.push(`loading ${spec.loading} of ${spec.loading + spec.series.length} series…`);
    const reduced = spec.series.some((s) => s.reduced);
    if (reduced) parts.push("downsampled, extremes kept");
    this.statusEl.textContent = parts.join(" · ");
    if (spec.loading) {
      // Draw once everything is in: rebuilding a chart per arriving series
      // would cost more than the loading itself. Until then the previous
      // plot (after a reload or a new run) stays up.
      if (this.plot) this.plot.redraw(false);
      else this.plotEl.replaceChildren(h("div", { class: "chart-empty", text: "Loading…" }));
      return;
    }
    this.spec = spec;
    if (this.log && spec.series.length && spec.series.every((s) => s.ys.every((y) => y == null || y <= 0))) {
      this.log = false;
    }
    this.logButton.setAttribute("aria-pressed", String(this.log));
    this.notesEl.replaceChildren(
      ...spec.errors.map((t) => h("p", { class: "note error", text: t })),
      ...spec.notes.map((t) => h("p", { class: "note", text: t })),
    );
    if (!spec.series.length) {
      this.destroyPlot();
      this.signature = "";
      this.plotEl.replaceChildren(h("div", { class: "chart-empty", text: "Nothing to draw for the selected runs on this axis." }));
      this.legendEl.replaceChildren();
      return;
    }
    const signature = [
      envSignature,
      this.log,
      ...spec.series.map((s) => `${seriesLabel(s)}:${s.color}:${s.dashed}:${s.xs.length <= 60}:${Boolean(s.real)}`),
    ].join("|");
    const data = [null, ...spec.series.map((s) => [s.xs, s.ys])] as unknown as uPlot.AlignedData;
    if (!this.plot || signature !== this.signature) {
      this.destroyPlot();
      this.plotEl.replaceChildren();
      this.signature = signature;
      this.plot = new uPlot(this.options(env, width), data, this.plotEl);
      this.bindPointer(this.plot);
      this.buildLegend();
    } else {
      if (this.plot.width !== width) this.plot.setSize({ width, height: CHART_HEIGHT });
      this.plot.setData(data, false);
    }
    this.setWindow(env.window(), true);
    this.showValues(null);
  }

  setWindow([min, max]: readonly [number, number], force = false): void {
    const sc = this.plot?.scales.x;
    if (sc && (force || sc.min !== min || sc.max !== max)) this.plot?.setScale("x", { min, max });
  }

  setWidth(width: number): void {
    if (this.plot && this.plot.width !== width) this.plot.setSize({ width, height: CHART_HEIGHT });
  }

  redraw(): void {
    this.plot?.redraw(false);
  }

  destroy(): void {
    this.destroyPlot();
    this.el.remove();
  }

  private destroyPlot(): void {
    this.plot?.destroy();
    this.plot = null;
  }

  private toggleLog(): void {
    this.log = !this.log;
    if (this.env && this.markers) {
      this.signature = "";
      this.update(this.spec, this.env, this.markers, this.plot?.width ?? this.plotEl.clientWidth);
    }
  }

  private options(env: PlotEnv, width: number): uPlot.Options {
    const log = this.log;
    // Thicker strokes cost ~15x more to rasterize in software (no GPU), so
    // dense charts get 1 px lines, which take the rasterizer's fast path.
    const points = this.spec.series.reduce((n, s) => n + s.xs.length, 0);
    const lineWidth = points > 20_000 ? 1 : 1.5;
    return plotOptions(env, {
      width,
      height: CHART_HEIGHT,
      showXValues: true,
      yScale: {
        auto: true,
        distr: log ? 3 : 1,
        log: 10,
        range: () => yRange(this.spec.series, env.window(), log),
      },
      yAxis: yAxisOptions(env),
      series: this.spec.series.map((s) => ({
        label: seriesLabel(s),
        stroke: s.color,
        width: lineWidth,
        dash: s.dashed ? [6, 4] : undefined,
        facets: [
          { scale: "x", auto: false, sorted: 1 },
          { scale: "y", auto: true },
        ],
        paths: uPlot.paths.linear?.(),
        // A lone finite point (a run that went NaN after one epoch) has no
        // line to show it: it is always drawn as a point.
        points: {
          show: s.xs.length <= 60 || s.ys.filter((y) => y != null).length <= 1,
          size: 5,
          width: 1,
          fill: env.theme.surface,
          filter: realPoints(s),
        },
        spanGaps: false,
      })),
      hooks: {
        drawAxes: [(u) => this.markers?.drawLines(u, env.theme.accent)],
        draw: [
          (u) => {
            this.drawBad(u);
            this.drawLone(u);
            this.drawExplained(u, env);
            // The x range drawn, for tests and automation (as data-zoom on the app).
            this.el.dataset.xScale = `${u.scales.x.min},${u.scales.x.max}`;
            this.el.dataset.yScale = `${u.scales.y.min},${u.scales.y.max}`;
          },
        ],
        setCursor: [(u) => this.showValues(u.cursor.left ?? -1)],
      },
    });
  }

  /** The hovered or selected event's decision, when it monitored this chart's metric, and its sentence. */
  private drawExplained(u: uPlot, env: PlotEnv): void {
    const active = activeOn(this.spec, this.markers);
    if (active) drawExplanation(u, active, env.theme.surface);
    const key = active?.ev.key ?? "";
    if (this.el.dataset.explained === key) return;
    this.el.dataset.explained = key;
    this.explainEl.hidden = !active;
    this.explainEl.style.setProperty("--swatch", active?.series.color ?? "");
    this.explainEl.textContent = active ? `Why (${active.ev.kind}, ${active.ev.run}): ${active.explanation.sentence}` : "";
  }

  /** An × near the top edge at every NaN/Inf value, in the line's colour (a value
   * that cannot be drawn as a point still says where training went wrong). */
  private drawBad(u: uPlot): void {
    const sc = u.scales.x;
    if (sc.min == null || sc.max == null) return;
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const r = 4 * pr;
    // Just below the event glyphs along the top edge, so neither hides the other.
    const y = u.bbox.top + 14 * pr + r;
    ctx.save();
    ctx.lineWidth = 1.8 * pr;
    for (const s of this.spec.series) {
      if (!s.bad.length) continue;
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      for (const x of s.bad) {
        if (x < sc.min || x > sc.max) continue;
        const px = u.valToPos(x, "x", true);
        ctx.moveTo(px - r, y - r);
        ctx.lineTo(px + r, y + r);
        ctx.moveTo(px + r, y - r);
        ctx.lineTo(px - r, y + r);
      }
      ctx.stroke();
    }
    ctx.restore();
  }

  /** A finite value with no finite neighbour has no line through it (a run
   * that went NaN after one epoch): a dot in the line's colour shows it. */
  private drawLone(u: uPlot): void {
    const { ctx } = u;
    const pr = devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const s of this.spec.series) {
      const finite = (i: number) => {
        const y = s.ys[i];
        return y != null && Number.isFinite(y);
      };
      ctx.fillStyle = s.color;
      ctx.beginPath();
      for (let i = 0; i < s.ys.length; i++) {
        if (!finite(i) || finite(i - 1) || finite(i + 1)) continue;
        const px = u.valToPos(s.xs[i], "x", true);
        const py = u.valToPos(s.ys[i] as number, "y", true);
        ctx.moveTo(px + 3.5 * pr, py);
        ctx.arc(px, py, 3.5 * pr, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
    ctx.restore();
  }

  private buildLegend(): void {
    this.values = [];
    const items = this.spec.series.map((s) => {
      const value = h("span", { class: "legend-value" });
      this.values.push(value);
      const label = seriesLabel(s);
      return h(
        "span",
        {
          class: "legend-item",
          title: label,
          attrs: {
            "data-fit": s.fit ?? "",
            "data-x0": s.xs[0] ?? "",
            "data-x1": s.xs[s.xs.length - 1] ?? "",
            "data-bad": s.bad.length,
            // Where a learning-rate line turns (its corners' x), for tests and automation.
            "data-corners": s.real ? s.xs.filter((_, i) => !s.real?.[i]).join(",") : "",
          },
        },
        h("span", { class: `legend-swatch${s.dashed ? " dashed" : ""}`, attrs: { style: `--swatch:${s.color}` } }),
        h("span", { class: "legend-run", text: label }),
        value,
      );
    });
    this.legendEl.replaceChildren(...items);
  }

  /** Each line's value nearest the cursor (or its last value). */
  private showValues(left: number | null): void {
    const u = this.plot;
    if (!u) return;
    const x = left != null && left >= 0 ? u.posToVal(left, "x") : null;
    this.spec.series.forEach((s, i) => {
      const el = this.values[i];
      if (!el || !s.xs.length) return;
      let idx = s.xs.length - 1;
      if (x != null) {
        idx = Math.min(s.xs.length - 1, lowerBound(s.xs, x));
        if (idx > 0 && Math.abs(s.xs[idx - 1] - x) < Math.abs(s.xs[idx] - x)) idx -= 1;
      }
      const y = s.ys[idx];
      if (y != null && Number.isFinite(y)) {
        el.textContent = fmtNumber(y);
        return;
      }
      // A NaN/Inf has no value to show: the last finite one, and that it went bad.
      const last = lastFinite(s, idx);
      el.textContent = last.bad ? `${fmtNumber(last.value)}, then NaN/Inf` : fmtNumber(last.value);
    });
  }

  private bindPointer(u: uPlot): void {
    const over = u.over;
    const near = (e: MouseEvent) => {
      if (!this.markers) return [];
      const { left } = pointerIn(u, e);
      return this.markers.near(u, this.markers.all, left, LINE_HOVER_PX);
    };
    over.addEventListener("mousemove", (e) => {
      const found = near(e);
      over.style.cursor = found.length ? "pointer" : "";
      this.callbacks.hover(found, found.length ? e : null);
    });
    over.addEventListener("mouseleave", () => this.callbacks.hover([], null));
    over.addEventListener("mousedown", (e) => {
      this.downAt = { x: e.clientX, y: e.clientY };
    });
    over.addEventListener("click", (e) => {
      if (this.downAt && Math.hypot(e.clientX - this.downAt.x, e.clientY - this.downAt.y) > 3) return;
      const found = near(e);
      if (found.length) this.callbacks.select(found[0]);
    });
  }
}

export class Charts {
  readonly el: HTMLElement;
  private readonly cards = new Map<string, ChartCard>();

  constructor(private readonly callbacks: ChartCallbacks) {
    this.el = h("div", { class: "charts" });
  }

  update(specs: ChartSpec[], env: PlotEnv, markers: Markers, width: number): void {
    const wanted = new Set(specs.map((s) => s.tag));
    for (const [tag, card] of this.cards) {
      if (!wanted.has(tag)) {
        card.destroy();
        this.cards.delete(tag);
      }
    }
    specs.forEach((spec, i) => {
      let card = this.cards.get(spec.tag);
      if (!card) this.cards.set(spec.tag, (card = new ChartCard(spec, this.callbacks)));
      if (this.el.children[i] !== card.el) this.el.insertBefore(card.el, this.el.children[i] ?? null);
      card.update(spec, env, markers, width);
    });
  }

  setWindow(window: readonly [number, number]): void {
    for (const card of this.cards.values()) card.setWindow(window);
  }

  setWidth(width: number): void {
    for (const card of this.cards.values()) card.setWidth(width);
  }

  redraw(): void {
    for (const card of this.cards.values()) card.redraw();
  }

  get size(): number {
    return this.cards.size;
  }
}
