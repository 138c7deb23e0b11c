// Loading: the runs listing, the events of the runs shown, and the metric
// series the charts ask for, into a DataStore. One load at a time (a reload
// asked for meanwhile runs after it), each series and run's events fetched
// once however often asked. A search's table reads the runs' digests (in
// the listing), so only the events of the trials drawn are fetched; else
// every run's. The request queue itself (parallelism, priorities) is in api.ts.

import { ApiError, fetchEvents, fetchManyEvents, fetchRuns, fetchScalars, MANY_EVENTS_RUNS } from "./api";
import { type DataStore, scalarKey } from "./model";
import { reportData } from "./report_data";

// More runs to fetch than this: one `many_events` request for all of them.
const MANY_RUNS = 12;

export function message(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}

export interface LoaderHooks {
  /** Something arrived or failed: render (throttled by the caller). */
  changed(): void;
  /** A runs listing arrived (before the runs' events). */
  listed(): void;
  /** The series the charts need now, as [run, tag]. */
  wanted(): Array<[string, string]>;
  /** The runs whose events are needed now; null: every run's. */
  eventRuns(): string[] | null;
}

export class Loader {
  loading = false;
  /** Bumped when a load ends (for tests and automation). */
  generation = 0;
  /** Bumped when a load's runs listing arrives: what depends on the runs alone can be asked for then. */
  listed = 0;
  /** Date.now() when the last load ended, 0 before. */
  lastLoaded = 0;
  reloadError: string | null = null;
  private reloadQueued = false;
  private readonly inflight = new Set<string>();
  private scalarsQueued = false;
  /** Runs whose events are on their way. */
  private readonly eventsInflight = new Set<string>();
  private eventsQueued = false;

  constructor(
    private readonly data: DataStore,
    private readonly hooks: LoaderHooks,
  ) {}

  /** True while a series is on its way. */
  get busy(): boolean {
    return this.loading || this.inflight.size > 0 || this.eventsInflight.size > 0;
  }

  async load(): Promise<void> {
    if (this.loading) {
      this.reloadQueued = true;
      return;
    }
    this.loading = true;
    this.hooks.changed();
    const data = this.data;
    const reload = data.loadedOnce;
    try {
      let runs;
      try {
        runs = (await fetchRuns()).runs;
      } catch (e) {
        if (reload) this.reloadError = `Reload failed: ${message(e)}`;
        else data.runsError = message(e);
        data.loadedOnce = true;
        data.touchEvents();
        return;
      }
      data.runsError = null;
      this.reloadError = null;
      data.loadedOnce = true;
      const names = new Set(runs.map((r) => r.run));
      for (const run of [...data.events.keys()]) if (!names.has(run)) data.events.delete(run);
      data.setRuns(runs);
      this.listed += 1;
      this.hooks.changed();
      const tasks: Array<Promise<void>> = [];
      // `runs` carries each run's tags (its `tags` answer), so the metric
      // series can be requested at once.
      for (const r of runs) data.tags.set(r.run, r.scalar_tags);
      data.touchMetrics();
      this.hooks.listed();
      this.requestScalars();
      // Runs whose events changed (or failed before) are asked for again.
      tasks.push(...this.fetchEventsOf(this.staleRuns(this.hooks.eventRuns())));
      if (reload) {
        // Metric series have no cheap change marker: refetch the drawn ones.
        const groups = new Set([...names].map((n) => data.group(n)));
        for (const [key, series] of [...data.scalars]) {
          if (!names.has(series.run) && !groups.has(data.group(series.run))) {
            data.scalars.delete(key);
            continue;
          }
          tasks.push(this.fetchSeries(series.run, series.tag));
        }
      }
      for (const task of tasks) task.finally(() => this.hooks.changed());
      await Promise.all(tasks);
    } finally {
      this.loading = false;
      this.generation += 1;
      this.lastLoaded = Date.now();
      data.touchEvents();
      data.touchMetrics();
      this.hooks.changed();
      if (this.reloadQueued) {
        this.reloadQueued = false;
        void this.load();
      }
    }
  }

  /** The runs among `wanted` (null: every run) whose events are not in, or
   * not as many as listed, and not on their way. */
  private staleRuns(wanted: string[] | null): string[] {
    const data = this.data;
    const runs = wanted ?? data.runs.map((r) => r.run);
    return runs.filter((run) => {
      const listed = data.runs[data.runIndex.get(run) ?? -1];
      return listed && !this.eventsInflight.has(run) && (!data.events.has(run) || data.eventCounts.get(run) !== listed.count);
    });
  }

  /** Fetches the events of the runs the view needs and lacks (the trials
   * selected in a search's table), once however often asked. */
  requestEvents(): void {
    if (this.eventsQueued || !this.data.loadedOnce) return;
    this.eventsQueued = true;
    queueMicrotask(() => {
      this.eventsQueued = false;
      // Runs that failed wait for the next load to be asked again.
      const runs = this.staleRuns(this.hooks.eventRuns()).filter((run) => !this.data.eventErrors.has(run));
      for (const task of this.fetchEventsOf(runs)) task.finally(() => this.hooks.changed());
    });
  }

  /** Asks for the events of `runs`: one request each for a few, else
   * `many_events` (of every run when all are asked for: a report answers
   * only run by run). */
  private fetchEventsOf(runs: string[]): Array<Promise<void>> {
    if (!runs.length) return [];
    for (const run of runs) this.eventsInflight.add(run);
    const done = (task: Promise<void>, of: string[]) =>
      task.finally(() => {
        for (const run of of) this.eventsInflight.delete(run);
      });
    if (runs.length <= MANY_RUNS || reportData()) return runs.map((run) => done(this.fetchOne(run), [run]));
    if (runs.length === this.data.runs.length) return [done(this.fetchMany(runs, fetchManyEvents()), runs)];
    const tasks: Array<Promise<void>> = [];
    for (let i = 0; i < runs.length; i += MANY_EVENTS_RUNS) {
      const chunk = runs.slice(i, i + MANY_EVENTS_RUNS);
      tasks.push(done(this.fetchMany(chunk, fetchManyEvents(chunk)), chunk));
    }
    return tasks;
  }

  private async fetchMany(runs: string[], asked: ReturnType<typeof fetchManyEvents>): Promise<void> {
    const data = this.data;
    try {
      const answer = await asked;
      const wanted = new Set(runs);
      for (const resp of answer.runs) {
        if (!wanted.delete(resp.run)) continue;
        // The count held (a run's `count` is its number of events): an
        // answer older than the listing is asked for again on the next load.
        data.setEvents(resp.run, resp.events, resp.events.length);
        if (resp.warnings?.length) data.warnings.set(resp.run, resp.warnings);
      }
      // Runs listed after the answer was made: one by one.
      await Promise.all([...wanted].map((run) => this.fetchOne(run)));
    } catch (e) {
      for (const run of runs) data.eventErrors.set(run, message(e));
      data.touchEvents();
    }
  }

  private fetchOne(run: string): Promise<void> {
    const data = this.data;
    return fetchEvents(run).then(
      (resp) => {
        data.setEvents(run, resp.events, resp.events.length);
        if (resp.warnings?.length) data.warnings.set(run, resp.warnings);
      },
      (e) => {
        data.eventErrors.set(run, message(e));
        data.touchEvents();
      },
    );
  }

  /** Fetches the series the charts need, once per task however often asked. */
  requestScalars(): void {
    if (this.scalarsQueued) return;
    this.scalarsQueued = true;
    queueMicrotask(() => {
      this.scalarsQueued = false;
      for (const [run, tag] of this.hooks.wanted()) {
        if (!this.inflight.has(scalarKey(run, tag))) void this.fetchSeries(run, tag);
      }
    });
  }

  private fetchSeries(run: string, tag: string): Promise<void> {
    const key = scalarKey(run, tag);
    this.inflight.add(key);
    return fetchScalars(run, tag)
      .then(
        (series) => {
          this.data.scalars.set(key, series);
          this.data.scalarErrors.delete(key);
        },
        (e) => {
          // A series that vanished on reload is an error only if never seen.
          if (!this.data.scalars.has(key)) this.data.scalarErrors.set(key, message(e));
        },
      )
      .finally(() => {
        this.inflight.delete(key);
        this.data.touchMetrics();
        this.hooks.changed();
      });
  }
}
