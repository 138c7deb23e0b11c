// Colours: runs take theirs from palette.ts (TensorBoard's own first); kinds
// have fixed colours and shapes.

import { slotColor } from "./palette";
import type { Shape } from "./shapes";

/** The colour of a run in colour slot `slot` (palette.ts). */
export function runColor(slot: number, dark: boolean): string {
  return slotColor(slot, dark);
}

export interface KindStyle {
  shape: Shape;
  color: string;
}

const BUILTIN: Record<string, { shape: Shape; light: string; dark: string }> = {
  train_begin: { shape: "triangle-right", light: "#2e7d32", dark: "#66bb6a" },
  train_end: { shape: "square", light: "#546e7a", dark: "#90a4ae" },
  lr_change: { shape: "diamond", light: "#ef6c00", dark: "#ffa726" },
  early_stop: { shape: "hexagon", light: "#c62828", dark: "#ef5350" },
  nan_terminated: { shape: "cross", light: "#ad1457", dark: "#f06292" },
  checkpoint_saved: { shape: "circle", light: "#1565c0", dark: "#64b5f6" },
  weights_restored: { shape: "triangle-up", light: "#6a1b9a", dark: "#ba68c8" },
  backup_restored: { shape: "triangle-down", light: "#00838f", dark: "#4dd0e1" },
};

// Users' own kinds: picked by a hash of the name, so a kind keeps its look
// across reloads and runs.
const USER_SHAPES: Shape[] = ["star", "plus", "ring", "diamond", "triangle-up", "square", "triangle-down", "circle"];
const USER_COLORS: ReadonlyArray<readonly [string, string]> = [
  ["#5d4037", "#bcaaa4"],
  ["#283593", "#9fa8da"],
  ["#00695c", "#80cbc4"],
  ["#9e9d24", "#dce775"],
  ["#4527a0", "#b39ddb"],
  ["#37474f", "#b0bec5"],
  ["#ad1457", "#f48fb1"],
  ["#2e7d32", "#a5d6a7"],
];

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

export function kindStyle(kind: string, dark: boolean): KindStyle {
  const builtin = BUILTIN[kind];
  if (builtin) return { shape: builtin.shape, color: dark ? builtin.dark : builtin.light };
  const hv = hash(kind);
  const color = USER_COLORS[hv % USER_COLORS.length];
  return { shape: USER_SHAPES[(hv >>> 8) % USER_SHAPES.length], color: dark ? color[1] : color[0] };
}

/** Built-in kinds first, in their natural order, then the rest by name. */
export function compareKinds(a: string, b: string): number {
  const order = Object.keys(BUILTIN);
  const ia = order.indexOf(a);
  const ib = order.indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}
