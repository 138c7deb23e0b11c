// Run colours. TensorBoard's own seven first (a run looks the same here as in
// its Scalars tab when few are shown), then seventeen more, so that up to 24
// runs drawn together never share a colour (a search's selected trials).
// Colours are given by a run's place among the runs shown (its colour slot),
// not among all runs: with 3,000 trials, the 20 selected are 20 colours.

// (light, dark) pairs; every value distinct within its theme.
const PALETTE: ReadonlyArray<readonly [string, string]> = [
  ["#425066", "#8e98a3"],
  ["#12b5cb", "#12b5cb"],
  ["#e52592", "#e52592"],
  ["#f9ab00", "#f9ab00"],
  ["#9334e6", "#9334e6"],
  ["#7cb342", "#7cb342"],
  ["#e8710a", "#e8710a"],
  ["#1565c0", "#5e97f6"],
  ["#c62828", "#ef5350"],
  ["#6d4c41", "#a1887f"],
  ["#9e9d24", "#d4e157"],
  ["#00897b", "#26a69a"],
  ["#ad1457", "#f48fb1"],
  ["#5e35b1", "#b39ddb"],
  ["#2e7d32", "#81c784"],
  ["#f06292", "#ff80ab"],
  ["#283593", "#7986cb"],
  ["#ff7043", "#ffab91"],
  ["#8d6e63", "#d7ccc8"],
  ["#64b5f6", "#90caf9"],
  ["#558b2f", "#c5e1a5"],
  ["#ba68c8", "#ce93d8"],
  ["#00acc1", "#80deea"],
  ["#ffb300", "#ffe082"],
];

export const DISTINCT_RUN_COLORS = PALETTE.length;

/** The colour of colour slot `slot` (cycling past the palette's end). */
export function slotColor(slot: number, dark: boolean): string {
  const n = PALETTE.length;
  const pair = PALETTE[((slot % n) + n) % n];
  return dark ? pair[1] : pair[0];
}

/** Colour slots: the shown runs first, in order, then every other run. */
export function colorSlots(shown: readonly string[], all: readonly string[]): Map<string, number> {
  const slots = new Map<string, number>();
  for (const run of shown) if (!slots.has(run)) slots.set(run, slots.size);
  for (const run of all) if (!slots.has(run)) slots.set(run, slots.size);
  return slots;
}
