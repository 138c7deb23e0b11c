// Loading: the runs listing, every run's events, and the metric series the
// charts ask for, into a DataStore. One load at a time (a reload asked for
// meanwhile runs after it), each series fetched once however often asked.
// The request queue itself (parallelism, priorities) is in api.ts.

import { ApiError, fetchEvents, fetchManyEvents, fetchRuns, fetchScalars, type RunSummary } from "./api";
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

  constructor(
    private readonly data: DataStore,
    private readonly hooks: LoaderHooks,
  ) {}

  /** True while a series is on its way. */
  get busy(): boolean {
    return this.loading || this.inflight.size > 0;
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
    // The first load asks for every run's events beside the listing, not
    // after it: a search's first render waits for both, and each costs the
    // server a walk of every run. (A later load asks only for runs whose
    // count changed.)
    const early = reload || reportData() ? null : fetchManyEvents(); // a report answers run by run
    early?.catch(() => undefined); // failures are reported where it is awaited
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
      const stale = runs.filter((r) => !data.events.has(r.run) || data.eventCounts.get(r.run) !== r.count);
      // Many runs (a search): every run's events in one request, not one each.
      const many = early !== null || stale.length > MANY_RUNS;
      if (many) tasks.push(this.fetchAllEvents(stale, early ?? fetchManyEvents()));
      for (const r of many ? [] : stale) tasks.push(this.fetchOne(r.run));
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

  private async fetchAllEvents(stale: RunSummary[], asked: ReturnType<typeof fetchManyEvents>): Promise<void> {
    const data = this.data;
    try {
      const answer = await asked;
      const wanted = new Set(stale.map((r) => r.run));
      for (const resp of answer.runs) {
        if (!wanted.delete(resp.run)) continue;
        // The count held (a run's `count` is its number of events): an
        // answer older than the listing is asked for again on the next load.
        data.setEvents(resp.run, resp.events, resp.events.length);
        if (resp.warnings?.length) data.warnings.set(resp.run, resp.warnings);
      }
      // Runs listed after the answer was made (asked beside the listing): one by one.
      await Promise.all([...wanted].map((run) => this.fetchOne(run)));
    } catch (e) {
      for (const r of stale) data.eventErrors.set(r.run, message(e));
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
