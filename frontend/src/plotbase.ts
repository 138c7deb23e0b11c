// What the timeline and every metric chart share: one x axis (same plot-area
// left edge and width, so an event lines up everywhere), drag-to-zoom,
// double-click to reset, synced crosshair, and theme-aware axes.

import uPlot from "uplot";
import type { XAxis } from "./axis";
import { fmtDurationTick, fmtTick } from "./format";

export const SYNC_KEY = "cbe-x";
export const FONT = '11px Roboto, "Helvetica Neue", Arial, sans-serif';
export const X_AXIS_HEIGHT = 28;
export const PADDING_RIGHT = 18;

export interface Theme {
  dark: boolean;
  text: string;
  muted: string;
  grid: string;
  axis: string;
  surface: string;
  accent: string;
}

/** Colours from the stylesheet's custom properties (set per theme). */
export function readTheme(dark: boolean): Theme {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    dark,
    text: v("--cbe-text", dark ? "#e8eaed" : "#202124"),
    muted: v("--cbe-muted", dark ? "#9aa0a6" : "#5f6368"),
    grid: v("--cbe-grid", dark ? "#3c4043" : "#ebebeb"),
    axis: v("--cbe-axis", dark ? "#5f6368" : "#bdbdbd"),
    surface: v("--cbe-surface", dark ? "#202124" : "#ffffff"),
    accent: v("--cbe-accent", dark ? "#ff9800" : "#f57c00"),
  };
}

export interface PlotEnv {
  theme: Theme;
  xAxis: XAxis;
  /** Width of the left gutter (lane labels, y ticks); equal on all plots. */
  gutter: number;
  /** The x range every plot shows. */
  window(): readonly [number, number];
  zoomTo(min: number, max: number): void;
  resetZoom(): void;
}

const STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500];
for (let m = 1e3; m <= 1e12; m *= 10) STEP_INCRS.push(m, 2 * m, 2.5 * m, 5 * m);
const TIME_INCRS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
  7200, 10800, 21600, 43200, 86400, 172800, 604800,
];

export function xAxisOptions(env: PlotEnv, showValues: boolean): uPlot.Axis {
  const { theme } = env;
  return {
    scale: "x",
    size: X_AXIS_HEIGHT,
    font: FONT,
    stroke: theme.muted,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.axis, width: 1, size: 4 },
    incrs: env.xAxis === "relative" ? TIME_INCRS : STEP_INCRS,
    space: 60,
    values: (u, splits) => {
      if (!showValues) return splits.map(() => "");
      const sc = u.scales.x;
      const range = (sc.max ?? 0) - (sc.min ?? 0);
      return splits.map((v) => (env.xAxis === "relative" ? fmtDurationTick(v, range) : fmtTick(v, range)));
    },
  };
}

export interface BaseOptions {
  width: number;
  height: number;
  yAxis: uPlot.Axis;
  yScale: uPlot.Scale;
  series: uPlot.Series[];
  showXValues: boolean;
  hooks: uPlot.Hooks.Arrays;
}

export function plotOptions(env: PlotEnv, o: BaseOptions): uPlot.Options {
  return {
    mode: 2,
    width: o.width,
    height: o.height,
    padding: [8, PADDING_RIGHT, 0, 0],
    legend: { show: false },
    pxAlign: 1,
    cursor: {
      sync: { key: SYNC_KEY, setSeries: false },
      drag: { x: true, y: false, setScale: false, dist: 4 },
      points: { show: false },
      y: false,
      focus: { prox: -1 },
      bind: {
        // Our own reset: the whole view, on every plot, not uPlot's auto-range.
        dblclick: () => (e: MouseEvent) => {
          e.preventDefault();
          env.resetZoom();
          return null;
        },
      },
    },
    select: { show: true, over: true, left: 0, top: 0, width: 0, height: 0 },
    scales: {
      x: {
        time: false,
        auto: false,
        range: (_u, min, max) => (min != null && max != null ? [min, max] : ([...env.window()] as uPlot.Range.MinMax)),
      },
      y: o.yScale,
    },
    axes: [xAxisOptions(env, o.showXValues), o.yAxis],
    series: [{}, ...o.series],
    hooks: {
      ...o.hooks,
      setSelect: [
        (u) => {
          const { left, width } = u.select;
          if (width > 3) {
            const a = u.posToVal(left, "x");
            const b = u.posToVal(left + width, "x");
            env.zoomTo(Math.min(a, b), Math.max(a, b));
          }
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        },
      ],
    },
  };
}

/** A y axis of fixed width (so all plot areas align). */
export function yAxisOptions(env: PlotEnv, values?: uPlot.Axis["values"]): uPlot.Axis {
  const { theme } = env;
  return {
    scale: "y",
    size: env.gutter,
    font: FONT,
    stroke: theme.muted,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.axis, width: 1, size: 4 },
    space: 24,
    values:
      values ??
      ((u, splits) => {
        const sc = u.scales.y;
        const range = (sc.max ?? 0) - (sc.min ?? 0);
        return splits.map((v) => fmtTick(v, range));
      }),
  };
}

/** Pointer position inside a plot area, in CSS pixels. */
export function pointerIn(u: uPlot, e: MouseEvent): { left: number; top: number } {
  const rect = u.over.getBoundingClientRect();
  return { left: e.clientX - rect.left, top: e.clientY - rect.top };
}

/** A rule across the plot area's height at canvas x `x` (a selected event, a restored epoch, a non-finite step). */
export function verticalRule(u: uPlot, x: number, color: string, width: number, dash: number[] = []): void {
  const { ctx } = u;
  const { top, height } = u.bbox;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.setLineDash([]);
}
