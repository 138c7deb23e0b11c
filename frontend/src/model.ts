// Loaded data, and the view derived from it and the user's choices: which
// events are shown where, and which metric series each chart draws.

import type { CallbackEvent, RunSummary, ScalarSeries } from "./api";
import { EpochMap, type XAxis } from "./axis";
import { compareKinds, runColor } from "./colors";
import { assignFits, type Fit, fitsOf, type RateChange, stepEpoch, trainedRates } from "./fits";
import { droppedFits, fitShade, isLearningRate, type PlaceInfo, seriesParts } from "./series";
import { colorSlots, DISTINCT_RUN_COLORS } from "./palette";
import { runFilter } from "./runfilter";
import type { State } from "./state";

export interface Ev extends CallbackEvent {
  run: string;
  /** Stable identity across reloads (selection survives a refresh). */
  key: string;
  /** Lower-cased text the table filter searches, built on first use. */
  search?: string;
  /** Which fit of its experiment it belongs to (0-based), when it had several. */
  fit?: number;
}

export function scalarKey(run: string, tag: string): string {
  return `${run}\u0000${tag}`;
}

export class DataStore {
  /** Bumped on changes to runs and events, and to tags and scalars, so that
   * each half of the view is recomputed only when its inputs changed. */
  eventsVersion = 0;
  metricsVersion = 0;
  loadedOnce = false;
  runsError: string | null = null;
  runs: RunSummary[] = [];
  runIndex = new Map<string, number>();
  events = new Map<string, Ev[]>();
  /** The run's event count when its events were fetched (refetch when it changes). */
  eventCounts = new Map<string, number>();
  eventErrors = new Map<string, string>();
  /** Per event run: the scalar tags of it and its sibling runs. */
  tags = new Map<string, Record<string, string[]>>();
  scalars = new Map<string, ScalarSeries>();
  scalarErrors = new Map<string, string>();
  warnings = new Map<string, string[]>();
  /** Run -> experiment, from `runs` (event runs and the sibling runs they list). */
  groups = new Map<string, string>();

  private slots = new Map<string, number>();
  private slotsFor = "";

  /** The run's colour slot (palette.ts): its place among the runs shown. */
  colorSlot(run: string): number {
    return this.slots.get(run) ?? this.runIndex.get(run) ?? 0;
  }

  /** Gives the shown runs the first colour slots, in order. */
  showRuns(shown: readonly string[]): void {
    const key = `${this.eventsVersion}\u0000${shown.join("\u0001")}`;
    if (key === this.slotsFor) return;
    this.slotsFor = key;
    this.slots = colorSlots(shown, this.runs.map((r) => r.run));
  }

  /** The experiment of `run`. */
  group(run: string): string {
    return this.groups.get(run) ?? run;
  }

  touchEvents(): void {
    this.eventsVersion += 1;
  }

  touchMetrics(): void {
    this.metricsVersion += 1;
  }

  setRuns(runs: RunSummary[]): void {
    this.runs = runs;
    this.runIndex = new Map(runs.map((r, i) => [r.run, i]));
    this.groups = new Map();
    // The plugin's one rule for which runs form an experiment (conventions.py).
    for (const r of runs) this.groups.set(r.run, r.experiment);
    // A sibling (validation) run has no events of its own: it is in the
    // experiment of the event run that lists its tags.
    for (const r of runs) {
      for (const sibling of Object.keys(r.scalar_tags ?? {})) {
        if (!this.groups.has(sibling)) this.groups.set(sibling, this.group(r.run));
      }
    }
    for (const r of runs) if (r.warnings?.length) this.warnings.set(r.run, r.warnings);
    this.touchEvents();
    this.touchMetrics();
  }

  setEvents(run: string, events: CallbackEvent[], count: number): void {
    const seen = new Map<string, number>();
    // The parsed answer is ours alone: its objects become the events in
    // place (a copy of 100,000 events costs more than parsing them).
    const list = events as Ev[];
    for (const e of list) {
      const base = `${run}\u0000${e.step}\u0000${e.wall_time}\u0000${e.kind}`;
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      e.run = run;
      e.key = n ? `${base}\u0000${n}` : base;
    }
    this.events.set(run, list);
    this.eventCounts.set(run, count);
    this.eventErrors.delete(run);
    this.touchEvents();
  }
}

export interface Placed {
  ev: Ev;
  x: number;
  lane: number;
  /** The run's colour slot (DataStore.colorSlot). */
  runIndex: number;
}

export interface SeriesSpec {
  run: string;
  /** The fit drawn, when the experiment had several (each fit is its own line). */
  fit: number | null;
  /** The fits whose merged points this line is, when several were running at once (SeriesPart). */
  merged?: number[] | null;
  /** x of the points whose value was NaN or Inf (drawn as marks, not as points). */
  bad: number[];
  /** Per point, whether it was recorded (false: a corner of a learning-rate step); null: all. */
  real: boolean[] | null;
  /** Per point, its recorded step (the epoch of an epoch_* tag), where points are 1:1 with it (explain_view.ts). */
  recorded?: number[] | null;
  /** The event run whose colour this series takes. */
  owner: string;
  color: string;
  /** Sibling runs (validation) are dashed in their experiment's colour. */
  dashed: boolean;
  xs: number[];
  ys: Array<number | null>;
  total: number;
  /** The route sent fewer points than the series has (bucket extremes kept). */
  reduced: boolean;
}

export interface ChartSpec {
  tag: string;
  series: SeriesSpec[];
  notes: string[];
  errors: string[];
  loading: number;
}

/** What the timeline and the table show. */
export interface EventView {
  visibleRuns: string[];
  runFilterError: string | null;
  allKinds: string[];
  kindCounts: Map<string, number>;
  lanes: string[];
  /** Events of the visible runs and kinds (the table's rows), by run then step. */
  events: Ev[];
  byLane: Placed[][];
  placedCount: number;
  eventRange: readonly [number, number] | null;
  loadingEvents: number;
  /** Start (first event's wall time) of each experiment, for relative time. */
  t0: Map<string, number>;
  placedByKey: Map<string, Placed>;
}

/** What the metric charts show. */
export interface ChartView {
  experiments: string[];
  focused: string | null;
  availableTags: string[];
  charts: ChartSpec[];
  missingScalars: Array<[string, string]>;
  runsWithoutMetrics: string[];
  seriesRange: readonly [number, number] | null;
}

export interface View extends EventView, ChartView {
  /** The x range of everything drawn, padded: the unzoomed window. */
  domain: readonly [number, number] | null;
}

export function joinViews(events: EventView, charts: ChartView): View {
  const ranges = [events.eventRange, charts.seriesRange].filter((r): r is readonly [number, number] => r !== null);
  let domain: readonly [number, number] | null = null;
  if (ranges.length) {
    const min = Math.min(...ranges.map((r) => r[0]));
    const max = Math.max(...ranges.map((r) => r[1]));
    const pad = max > min ? (max - min) * 0.02 : Math.max(1, Math.abs(min) * 0.05);
    domain = [min - pad, max + pad];
  }
  return { ...events, ...charts, domain };
}

/** Loss first, its validation twin, the learning rate, the first accuracy-like metric. */
export function defaultTags(available: string[]): string[] {
  const rank = (tag: string) => (tag.startsWith("epoch_") ? 0 : tag.startsWith("batch_") ? 2 : 1);
  const pick = (test: (t: string) => boolean) => available.filter(test).sort((a, b) => rank(a) - rank(b))[0];
  const isVal = (t: string) => /(^|[_/])val(idation)?_/.test(t);
  const out: string[] = [];
  const add = (tag: string | undefined) => {
    if (tag && !out.includes(tag)) out.push(tag);
  };
  const loss = pick((t) => /(^|[_/])loss$/.test(t) && !isVal(t));
  add(loss);
  if (loss) {
    const base = loss.replace(/^(epoch_|batch_)/, "");
    const prefix = loss.slice(0, loss.length - base.length);
    add(available.find((t) => t === `${prefix}val_${base}` || t === `val_${base}`));
  }
  add(pick((t) => /learning_rate|(^|[_/])lr$/.test(t)));
  add(pick((t) => /acc/.test(t) && !isVal(t)));
  if (!out.length) add(available[0]);
  return out;
}

type GroupInfo = PlaceInfo;

interface GroupFacts {
  /** The wall time of its first event. */
  t0: number;
  /** Steps per epoch from `train_begin` (the fallback epoch map). */
  stepsPerEpoch: { steps: number; last: number } | undefined;
  fits: Fit[];
  /** Per fit, its lr_change events. */
  lrChanges: Ev[][];
}

interface FactsCache {
  version: number;
  /** Experiment -> its runs' event lists. */
  byGroup: Map<string, Ev[][]>;
  facts: Map<string, GroupFacts>;
}

const factsCache = new WeakMap<DataStore, FactsCache>();

/** What the events tell of experiment `g` (undefined: it has none). Worked
 * out when first asked for and kept until the events change: a search's
 * table draws no experiment, and a few of its thousands when some are
 * selected, so only those are gone over. */
function groupFacts(data: DataStore, g: string): GroupFacts | undefined {
  let cache = factsCache.get(data);
  if (cache?.version !== data.eventsVersion) {
    const byGroup = new Map<string, Ev[][]>();
    for (const [run, events] of data.events) {
      const group = data.group(run);
      const lists = byGroup.get(group);
      if (lists) lists.push(events);
      else byGroup.set(group, [events]);
    }
    cache = { version: data.eventsVersion, byGroup, facts: new Map() };
    factsCache.set(data, cache);
  }
  const known = cache.facts.get(g);
  if (known) return known;
  const lists = cache.byGroup.get(g);
  if (!lists) return undefined;
  const all = lists.flat();
  let t0 = Number.POSITIVE_INFINITY;
  let stepsPerEpoch: GroupFacts["stepsPerEpoch"];
  for (const e of all) {
    if (e.wall_time > 0 && e.wall_time < t0) t0 = e.wall_time;
    if (e.kind === "train_begin" && typeof e.data.steps === "number" && e.data.steps > 0) {
      const epochs = typeof e.data.epochs === "number" ? e.data.epochs : 0;
      stepsPerEpoch = { steps: e.data.steps, last: Math.max(stepsPerEpoch?.last ?? 0, epochs) };
    }
  }
  const fits = fitsOf(all);
  const lrChanges: Ev[][] = fits.length ? fits.map(() => []) : [[]];
  const fitOf = assignFits(fits, all);
  all.forEach((e, i) => {
    const fit = fits.length > 1 ? fitOf[i] : 0;
    // Only where there are several fits is "which fit" worth saying.
    e.fit = fits.length > 1 ? fit : undefined;
    if (e.kind === "lr_change") lrChanges[fit]?.push(e);
  });
  const facts = { t0, stepsPerEpoch, fits, lrChanges };
  cache.facts.set(g, facts);
  return facts;
}

interface InfoCache {
  key: string;
  /** Experiment -> its runs' series in `data.scalars`, in that order. */
  series: Map<string, ScalarSeries[]>;
  infos: Map<string, GroupInfo | undefined>;
}

const infoCache = new WeakMap<DataStore, InfoCache>();
// Per experiment, its epoch map and the objects it was built from: building
// one sorts every epoch, so it is rebuilt only when those objects change.
const epochMapCache = new WeakMap<DataStore, Map<string, { inputs: object[]; map: EpochMap | null }>>();

/** Experiment `g`'s start time, epoch ends and fits (memoized per data version; undefined: nothing known). */
function groupInfo(data: DataStore, g: string): GroupInfo | undefined {
  const key = `${data.eventsVersion}:${data.metricsVersion}`;
  let cache = infoCache.get(data);
  if (cache?.key !== key) {
    const series = new Map<string, ScalarSeries[]>();
    for (const s of data.scalars.values()) {
      const group = data.group(s.run);
      const list = series.get(group);
      if (list) list.push(s);
      else series.set(group, [s]);
    }
    cache = { key, series, infos: new Map() };
    infoCache.set(data, cache);
  }
  if (cache.infos.has(g)) return cache.infos.get(g);
  const info = buildGroupInfo(data, g, cache.series.get(g) ?? []);
  cache.infos.set(g, info);
  return info;
}

function buildGroupInfo(data: DataStore, g: string, series: ScalarSeries[]): GroupInfo | undefined {
  const facts = groupFacts(data, g);
  const epochSeries = series.filter((s) => s.x === "epoch" && s.global_step);
  const firstTime = series.find((s) => s.wall_time.length)?.wall_time[0];
  if (!facts && firstTime === undefined && !epochSeries.length) return undefined;
  let maps = epochMapCache.get(data);
  if (!maps) epochMapCache.set(data, (maps = new Map()));
  const spe = facts?.stepsPerEpoch;
  const inputs: object[] = epochSeries.length ? epochSeries : spe ? [spe] : [];
  let kept = maps.get(g);
  if (!kept || kept.inputs.length !== inputs.length || kept.inputs.some((x, i) => x !== inputs[i])) {
    kept = { inputs, map: buildEpochMap(epochSeries.length ? epochSeries : undefined, spe) };
    maps.set(g, kept);
  }
  return { t0: facts?.t0 ?? firstTime ?? 0, epochs: kept.map, fits: facts?.fits ?? [] };
}

function buildEpochMap(
  series: ScalarSeries[] | undefined,
  spe: { steps: number; last: number } | undefined,
): EpochMap | null {
  const pairs = new Map<number, number>();
  for (const s of series ?? []) {
    s.step.forEach((epoch, i) => {
      const end = s.global_step?.[i];
      if (end != null) pairs.set(epoch, end);
    });
  }
  if (pairs.size) return new EpochMap(pairs);
  return spe ? EpochMap.fromStepsPerEpoch(spe.steps, spe.last) : null;
}

function eventX(e: Ev, axis: XAxis, info: GroupInfo | undefined): number {
  if (axis === "step") return e.step;
  if (axis === "relative") return info ? e.wall_time - info.t0 : Number.NaN;
  if (e.kind === "lr_change") {
    // Where the rate changed, as the rate line turns there (rateChange): a
    // LearningRateScheduler's event carries the epoch about to begin (its
    // `epoch` field, kept as written), but the new rate first trains the
    // step after the event's, which is the end of the epoch before.
    const at = stepPosition(e, info);
    if (Number.isFinite(at)) return at;
  }
  if (e.epoch != null) return e.epoch;
  return stepPosition(e, info);
}

/** The epoch-axis position of an event's step (NaN when unknown). */
function stepPosition(e: Ev, info: GroupInfo | undefined): number {
  if (info && info.fits.length > 1) return stepEpoch(info.fits[e.fit ?? 0], e.step);
  return info?.epochs ? info.epochs.stepToEpoch(e.step) : Number.NaN;
}

/** An lr_change where the rate line turns: where its marker is drawn (eventX), at its step. */
function rateChange(e: Ev, axis: XAxis, info: GroupInfo | undefined): RateChange {
  const rate = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  return { step: e.step, old: rate(e.data.old), new: rate(e.data.new), x: eventX(e, axis, info) };
}

const AXIS_NAMES: Record<XAxis, string> = { step: "steps", epoch: "epochs", relative: "time" };

/**
 * The runs shown. When the runs the sidebar selects form more experiments
 * than one chart draws (a search), the tab is a table of those trials
 * (`search`: their runs) and only the trials selected in it are drawn.
 */
export function visibleRunsOf(state: State, data: DataStore): { runs: string[]; error: string | null; search: string[] | null } {
  const filter = runFilter(state.runFilter);
  const chosen = data.runs.map((r) => r.run).filter((run) => !state.hiddenRuns.has(run) && filter.test(run));
  const experiments = new Set(chosen.map((r) => data.group(r)));
  const search = experiments.size > MAX_CHART_EXPERIMENTS ? chosen : null;
  let runs = chosen;
  if (search) {
    const trials = new Set(state.trials);
    runs = chosen.filter((r) => trials.has(data.group(r)));
  }
  data.showRuns(runs);
  return { runs, error: filter.error, search };
}

export function computeEventView(state: State, data: DataStore): EventView {
  const { runs: visibleRuns, error } = visibleRunsOf(state, data);

  // The kinds filter lists only what the selected runs hold.
  const allKindSet = new Set<string>();
  for (const run of visibleRuns) {
    const summary = data.runs[data.runIndex.get(run) ?? -1];
    for (const k of Object.keys(summary?.kinds ?? {})) allKindSet.add(k);
  }

  const kindCounts = new Map<string, number>();
  const events: Ev[] = [];
  let loadingEvents = 0;
  for (const run of visibleRuns) {
    const list = data.events.get(run);
    if (!list) {
      if (!data.eventErrors.has(run)) loadingEvents += 1;
      const summary = data.runs[data.runIndex.get(run) ?? -1];
      for (const [k, n] of Object.entries(summary?.kinds ?? {})) kindCounts.set(k, (kindCounts.get(k) ?? 0) + n);
      continue;
    }
    for (const e of list) {
      kindCounts.set(e.kind, (kindCounts.get(e.kind) ?? 0) + 1);
      if (!state.hiddenKinds.has(e.kind)) events.push(e);
    }
  }
  for (const k of kindCounts.keys()) allKindSet.add(k);
  const allKinds = [...allKindSet].sort(compareKinds);

  const lanes = allKinds.filter((k) => !state.hiddenKinds.has(k) && (kindCounts.get(k) ?? 0) > 0);
  const laneOf = new Map(lanes.map((k, i) => [k, i]));
  const byLane: Placed[][] = lanes.map(() => []);
  const placedByKey = new Map<string, Placed>();
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let placedCount = 0;
  for (const e of events) {
    const x = eventX(e, state.xAxis, groupInfo(data, data.group(e.run)));
    if (!Number.isFinite(x)) continue;
    const lane = laneOf.get(e.kind);
    if (lane === undefined) continue;
    const placed = { ev: e, x, lane, runIndex: data.colorSlot(e.run) };
    byLane[lane].push(placed);
    placedByKey.set(e.key, placed);
    placedCount += 1;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  for (const lane of byLane) lane.sort((a, b) => a.x - b.x);

  return {
    visibleRuns,
    runFilterError: error,
    allKinds,
    kindCounts,
    lanes,
    events,
    byLane,
    placedCount,
    eventRange: Number.isFinite(min) ? [min, max] : null,
    loadingEvents,
    t0: new Map(
      [...new Set(visibleRuns.map((r) => data.group(r)))].flatMap((g) => {
        const info = groupInfo(data, g);
        return info ? [[g, info.t0] as const] : [];
      }),
    ),
    placedByKey,
  };
}

interface PlannedSeries {
  run: string;
  /** The event run whose colour the series takes. */
  owner: string;
  isEventRun: boolean;
}

interface ChartPlan {
  availableTags: string[];
  runsWithoutMetrics: string[];
  charts: Array<{ tag: string; series: PlannedSeries[] }>;
  /** The experiments of the visible runs, in run order. */
  experiments: string[];
  /** The one experiment charted, when more than MAX_CHART_EXPERIMENTS are visible; else null. */
  focused: string | null;
}

// More experiments than this on one chart is a tangle of lines and marker
// lines: the charts then show one experiment at a time.
export const MAX_CHART_EXPERIMENTS = 6;

/** The experiments of the visible runs and which one the charts show (null: all). */
export function chartFocus(state: State, data: DataStore, visibleRuns: string[]): { experiments: string[]; focused: string | null } {
  const experiments = [...new Set(visibleRuns.map((r) => data.group(r)))];
  // Trials selected in the search view are drawn together, each in its own colour.
  const together = state.trials.length ? DISTINCT_RUN_COLORS : MAX_CHART_EXPERIMENTS;
  if (experiments.length <= together) return { experiments, focused: null };
  const focused = state.focus !== null && experiments.includes(state.focus) ? state.focus : experiments[0];
  return { experiments, focused };
}

/** Which series each chart draws, from tags alone (no metric data needed). */
export function planCharts(state: State, data: DataStore): ChartPlan {
  const { runs: visibleRuns } = visibleRunsOf(state, data);
  const visibleSet = new Set(visibleRuns);
  // Tags of the visible runs' experiments.
  const available = new Set<string>();
  const runsWithoutMetrics: string[] = [];
  for (const run of visibleRuns) {
    const tags = data.tags.get(run);
    if (!tags) continue;
    let any = false;
    for (const list of Object.values(tags)) {
      for (const t of list) available.add(t);
      if (list.length) any = true;
    }
    if (!any) runsWithoutMetrics.push(run);
  }
  const availableTags = [...available].sort();
  const chartTags = (state.tags ?? defaultTags(availableTags)).filter((t) => available.has(t));
  const { experiments, focused } = chartFocus(state, data, visibleRuns);
  const owners = focused === null ? visibleRuns : visibleRuns.filter((r) => data.group(r) === focused);
  const charts = chartTags.map((tag) => {
    const series: PlannedSeries[] = [];
    const done = new Set<string>();
    for (const owner of owners) {
      const tags = data.tags.get(owner);
      if (!tags) continue;
      for (const [run, list] of Object.entries(tags)) {
        if (done.has(run) || !list.includes(tag)) continue;
        // An event run is drawn in its own colour, and only when it is shown.
        const isEventRun = data.runIndex.has(run);
        if (isEventRun && !visibleSet.has(run)) continue;
        done.add(run);
        series.push({ run, owner: isEventRun ? run : owner, isEventRun });
      }
    }
    return { tag, series };
  });
  return { availableTags, runsWithoutMetrics, charts, experiments, focused };
}

/** Series the charts need that are neither loaded nor failed. */
export function missingSeries(plan: ChartPlan, data: DataStore): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const chart of plan.charts) {
    for (const s of chart.series) {
      const key = scalarKey(s.run, chart.tag);
      if (!data.scalars.has(key) && !data.scalarErrors.has(key)) out.push([s.run, chart.tag]);
    }
  }
  return out;
}

export function computeChartView(state: State, data: DataStore, dark: boolean): ChartView {
  const plan = planCharts(state, data);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const charts: ChartSpec[] = [];
  for (const { tag, series: planned } of plan.charts) {
    const chart: ChartSpec = { tag, series: [], notes: [], errors: [], loading: 0 };
    for (const { run, owner, isEventRun } of planned) {
      const key = scalarKey(run, tag);
      const series = data.scalars.get(key);
      const failure = data.scalarErrors.get(key);
      if (failure) {
        chart.errors.push(`${run}: ${failure}`);
        continue;
      }
      if (!series) {
        chart.loading += 1;
        continue;
      }
      const group = data.group(owner);
      const info = groupInfo(data, group);
      const { parts, unmapped } = seriesParts(series, state.xAxis, info);
      if (unmapped && !parts.length) {
        chart.notes.push(
          `${run}: ${tag} is recorded per ${series.x}, and no ${series.x}-to-${AXIS_NAMES[state.xAxis]} mapping is known`,
        );
        continue;
      }
      const fits = info?.fits ?? [];
      const merged = parts.filter((p) => p.merged);
      if (merged.length) {
        const names = [...new Set(merged.flatMap((p) => p.merged ?? []))];
        chart.notes.push(
          `${run}: fits ${names.join(" and ")} were running at the same time (fitting into one log_dir at once), ` +
            `and TensorBoard merges their points of ${tag} into one series: which fit each point is from cannot be told here, ` +
            `so they are drawn as one line ("fits ${names.join("+")}"). tb-callbacks plot and report read the event files and draw each fit's own.`,
        );
      }
      // With points of fits running at once merged, which fit lost points cannot be told either.
      const dropped = merged.length ? [] : droppedFits(parts, fits, series.x === "epoch");
      if (dropped.length) {
        chart.notes.push(
          `${run}: ${tag} of fit${dropped.length > 1 ? "s" : ""} ${dropped.join(", ")} ${dropped.length > 1 ? "are" : "is"} missing or partial in TensorBoard's answer. ` +
            "Its data server (--load_fast=true) drops a tag's earlier points when a later fit restarts at a lower step; --load_fast=false keeps them.",
        );
      }
      const changes = isLearningRate(tag) ? groupFacts(data, group)?.lrChanges : undefined;
      for (const part of parts) {
        for (const x of [part.xs[0], part.xs[part.xs.length - 1]]) {
          if (x === undefined) continue;
          if (x < min) min = x;
          if (x > max) max = x;
        }
        let { xs, ys } = part;
        let real: boolean[] | null = null;
        const fitChanges = part.merged ? undefined : changes?.[part.fit];
        if (fitChanges?.length) {
          const rates = fitChanges.map((e) => rateChange(e, state.xAxis, info));
          ({ xs, ys, real } = trainedRates(xs, ys, part.steps, rates));
        }
        chart.series.push({
          run,
          owner,
          fit: fits.length > 1 ? part.fit : null,
          merged: part.merged,
          bad: part.bad,
          real,
          recorded: real ? null : part.recorded,
          color: fitShade(runColor(data.colorSlot(owner), dark), part.fit, fits.length),
          dashed: !isEventRun,
          xs,
          ys,
          total: series.total,
          reduced: series.total > series.step.length,
        });
      }
    }
    charts.push(chart);
  }
  return {
    experiments: plan.experiments,
    focused: plan.focused,
    availableTags: plan.availableTags,
    charts,
    missingScalars: missingSeries(plan, data),
    runsWithoutMetrics: plan.runsWithoutMetrics,
    seriesRange: Number.isFinite(min) ? [min, max] : null,
  };
}
