// A search's trials: one row per experiment of the shown runs, with how it
// ended (from its runs' digests in the `runs` listing, or their events where
// there is none: a report), its hyperparameters (the `hparams` route) and the
// best and final value of one chosen metric (the `many_scalars` route).

import type { DigestEnding, HparamValue, ManySeries, RunDigest } from "./api";
import type { DataStore, Ev } from "./model";

export interface TrialRow {
  trial: string;
  hparams: Record<string, HparamValue>;
  /** completed, early_stop, nan, interrupted, ... (train_end's reason), or running. */
  ending: string;
  /** The epoch it ended at, as Keras's console numbers it (1-based). */
  endEpoch: number | null;
  lrChanges: number;
  checkpoints: number;
  epochs: number | null;
  /** Seconds from its first event to its last. */
  duration: number | null;
  best: number | null;
  final: number | null;
  /** The final value when it is not finite ("NaN", "Infinity", ...). */
  finalNote: string | null;
  spark: ManySeries | null;
  /** Events drawn on the sparkline: [epoch (0-based), kind]. */
  ticks: Array<[number, string]>;
  /** Lower-cased text the filter searches. */
  text: string;
}

/** A chosen metric: the run of each trial (its name below the trial, "." for the trial's own) and tag. */
export interface Metric {
  suffix: string;
  tag: string;
}

export const metricKey = (m: Metric): string => `${m.suffix}\u0000${m.tag}`;

const ENDING_OF_KIND: Record<string, string> = { early_stop: "early_stop", nan_terminated: "nan" };
const TICK_KINDS = new Set(["lr_change", "checkpoint_saved", "early_stop", "nan_terminated", "weights_restored"]);

/** Lower is better for losses and errors; higher for anything else. */
export function lowerIsBetter(tag: string): boolean {
  return /loss|error|mae|mse|perplexity|entropy/i.test(tag);
}

function runOf(trial: string, suffix: string): string {
  return suffix === "." ? trial : `${trial}/${suffix}`;
}

export function suffixOf(trial: string, run: string): string {
  return run === trial ? "." : run.startsWith(`${trial}/`) ? run.slice(trial.length + 1) : run;
}

/** The metrics the trials can be compared by, most common first; and the default. */
export function metricChoices(trials: Map<string, string[]>, data: DataStore): { choices: Metric[]; preferred: Metric | null } {
  const count = new Map<string, { metric: Metric; n: number }>();
  for (const [trial, runs] of trials) {
    const seen = new Set<string>();
    for (const run of runs) {
      for (const [sibling, tags] of Object.entries(data.tags.get(run) ?? {})) {
        for (const tag of tags) {
          const metric = { suffix: suffixOf(trial, sibling), tag };
          const key = metricKey(metric);
          if (seen.has(key)) continue;
          seen.add(key);
          const entry = count.get(key);
          if (entry) entry.n += 1;
          else count.set(key, { metric, n: 1 });
        }
      }
    }
  }
  const ranked = [...count.values()].sort((a, b) => b.n - a.n || metricKey(a.metric).localeCompare(metricKey(b.metric)));
  const choices = ranked.map((c) => c.metric);
  // Among the metrics the most trials have (a search's own, not those of a
  // few other runs beside it): validation loss, then loss, then any epoch metric.
  const common = ranked.filter((c) => c.n === ranked[0]?.n).map((c) => c.metric);
  const find = (test: (m: Metric) => boolean) => common.find(test) ?? null;
  const preferred =
    find((m) => m.suffix === "validation" && m.tag === "epoch_loss") ??
    find((m) => m.tag === "epoch_loss") ??
    find((m) => m.tag.startsWith("epoch_")) ??
    choices[0] ??
    null;
  return { choices, preferred };
}

/** Experiment -> its runs among `runs`, in run order. */
export function trialsOf(runs: string[], data: DataStore): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const run of runs) {
    const g = data.group(run);
    const list = out.get(g);
    if (list) list.push(run);
    else out.set(g, [run]);
  }
  return out;
}

/** What one run tells its trial's row: from its digest (the server applies
 * the rules below: run_digest.py) or, without one, its events. Kept per
 * digest or event list: a reload that brings no change, or the
 * hyperparameters or metric arriving, reuse it. */
interface RunPart {
  /** [wall time, ending, epoch from 1] of its last train_end, and of its last early stop or NaN termination (the latest of each wins). */
  end: DigestEnding | null;
  stop: DigestEnding | null;
  lrChanges: number;
  checkpoints: number;
  first: number;
  last: number;
  ticks: Array<[number, string]>;
}

const partsCache = new WeakMap<Ev[] | RunDigest, RunPart>();

function emptyPart(): RunPart {
  return { end: null, stop: null, lrChanges: 0, checkpoints: 0, first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY, ticks: [] };
}

function runPart(digest: RunDigest | undefined, events: Ev[] | undefined): RunPart {
  const source = digest ?? events;
  if (!source) return emptyPart();
  let part = partsCache.get(source);
  if (!part) {
    part = digest ? digestPart(digest) : emptyPart();
    if (!digest) for (const e of events ?? []) addEvent(part, e);
    partsCache.set(source, part);
  }
  return part;
}

function digestPart(d: RunDigest): RunPart {
  return {
    end: d.end,
    stop: d.stop,
    lrChanges: d.lr_changes,
    checkpoints: d.checkpoints,
    first: d.first ?? Number.POSITIVE_INFINITY,
    last: d.last ?? Number.NEGATIVE_INFINITY,
    ticks: d.ticks,
  };
}

const later = (a: DigestEnding | null, b: DigestEnding | null): DigestEnding | null => (b && (!a || b[0] >= a[0]) ? b : a);

function addEvent(part: RunPart, e: Ev): void {
  const epochOf = (epoch: number | null) => (epoch == null ? null : epoch + 1);
  if (e.kind === "train_end") {
    const reason = typeof e.data.reason === "string" ? e.data.reason : "completed";
    const last = typeof e.data.last_epoch === "number" ? e.data.last_epoch : e.epoch;
    part.end = later(part.end, [e.wall_time, reason, epochOf(last)]);
  }
  if (ENDING_OF_KIND[e.kind]) part.stop = later(part.stop, [e.wall_time, ENDING_OF_KIND[e.kind], epochOf(e.epoch)]);
  if (e.kind === "lr_change") part.lrChanges += 1;
  else if (e.kind === "checkpoint_saved") part.checkpoints += 1;
  if (e.wall_time > 0) {
    part.first = Math.min(part.first, e.wall_time);
    part.last = Math.max(part.last, e.wall_time);
  }
  if (TICK_KINDS.has(e.kind) && e.epoch != null) part.ticks.push([e.epoch, e.kind]);
}

/** The parts of a trial's runs as one (in run order: on equal times the later run's event wins, as in one pass). */
function trialPart(runs: string[], data: DataStore): RunPart {
  const partOf = (run: string) => runPart(data.runs[data.runIndex.get(run) ?? -1]?.digest, data.events.get(run));
  if (runs.length === 1) return partOf(runs[0]);
  const all = emptyPart();
  for (const run of runs) {
    const p = partOf(run);
    all.end = later(all.end, p.end);
    all.stop = later(all.stop, p.stop);
    all.lrChanges += p.lrChanges;
    all.checkpoints += p.checkpoints;
    all.first = Math.min(all.first, p.first);
    all.last = Math.max(all.last, p.last);
    all.ticks.push(...p.ticks);
  }
  return all;
}

function endingOf(part: RunPart): { ending: string; endEpoch: number | null } {
  const found = part.end ?? part.stop;
  return found ? { ending: found[1], endEpoch: found[2] } : { ending: "running", endEpoch: null };
}

type BestAndFinal = { best: number | null; final: number | null; finalNote: string | null };
const bestCache = new WeakMap<ManySeries, { lower: boolean; found: BestAndFinal }>();

function bestAndFinal(series: ManySeries | null, lower: boolean): BestAndFinal {
  if (!series || !series.value.length) return { best: null, final: null, finalNote: null };
  const kept = bestCache.get(series);
  if (kept?.lower === lower) return kept.found;
  let best: number | null = null;
  for (const v of series.value) {
    if (v === null) continue;
    if (best === null || (lower ? v < best : v > best)) best = v;
  }
  const i = series.value.length - 1;
  const found = { best, final: series.value[i], finalNote: series.nonfinite?.[i] ?? null };
  bestCache.set(series, { lower, found });
  return found;
}

/** One row per trial. */
export function trialRows(
  trials: Map<string, string[]>,
  data: DataStore,
  hparams: Record<string, Record<string, HparamValue>>,
  metric: Metric | null,
  series: Map<string, ManySeries>,
): TrialRow[] {
  const lower = metric ? lowerIsBetter(metric.tag) : true;
  const rows: TrialRow[] = [];
  for (const [trial, runs] of trials) {
    const part = trialPart(runs, data);
    const { ending, endEpoch } = endingOf(part);
    const spark = metric ? series.get(runOf(trial, metric.suffix)) ?? null : null;
    const seriesEpochs = spark && spark.step.length ? spark.step[spark.step.length - 1] + 1 : null;
    const hp = hparams[trial] ?? {};
    let text = `${trial}\u0001${ending}`;
    for (const k in hp) text += `\u0001${k}=${String(hp[k])}`;
    rows.push({
      trial,
      hparams: hp,
      ending,
      endEpoch,
      lrChanges: part.lrChanges,
      checkpoints: part.checkpoints,
      epochs: endEpoch ?? seriesEpochs,
      duration: part.last >= part.first ? part.last - part.first : null,
      ...bestAndFinal(spark, lower),
      spark,
      ticks: part.ticks,
      text: text.toLowerCase(),
    });
  }
  return rows;
}

/** How many trials ended each way, most first. */
export function endingCounts(rows: TrialRow[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.ending, (counts.get(r.ending) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export type TrialColumn = string; // "trial", "ending", ..., or "hp:<name>"

const COLUMN_VALUES: Record<string, (row: TrialRow) => number | string | null> = {
  trial: (r) => r.trial,
  ending: (r) => r.ending,
  endEpoch: (r) => r.endEpoch,
  lrChanges: (r) => r.lrChanges,
  checkpoints: (r) => r.checkpoints,
  epochs: (r) => r.epochs,
  duration: (r) => r.duration,
  best: (r) => r.best,
  final: (r) => r.final,
};

function sortValue(row: TrialRow, column: TrialColumn): number | string | null {
  if (column.startsWith("hp:")) {
    const v = row.hparams[column.slice(3)];
    return v === undefined || v === null ? null : typeof v === "boolean" ? Number(v) : v;
  }
  return COLUMN_VALUES[column]?.(row) ?? null;
}

// One collator for every comparison: `localeCompare` builds one per call,
// which made sorting 3,000 trials by name take ~100 ms.
const NAMES = new Intl.Collator(undefined, { numeric: true });

/** Rows passing the filter and ending, sorted (missing values last either way). */
export function shownRows(rows: TrialRow[], filter: string, ending: string | null, column: TrialColumn, descending: boolean): TrialRow[] {
  const needle = filter.trim().toLowerCase();
  const kept = rows.filter((r) => (!ending || r.ending === ending) && (!needle || r.text.includes(needle)));
  const keyed = kept.map((row) => ({ row, v: sortValue(row, column) }));
  const sign = descending ? -1 : 1;
  keyed.sort((a, b) => {
    if (a.v === null || b.v === null) return a.v === b.v ? 0 : a.v === null ? 1 : -1;
    if (typeof a.v === "number" && typeof b.v === "number") return sign * (a.v - b.v) || (a.row.trial < b.row.trial ? -1 : 1);
    const c = NAMES.compare(String(a.v), String(b.v));
    return sign * c || (a.row.trial < b.row.trial ? -1 : 1);
  });
  return keyed.map((k) => k.row);
}
