// The search view's data: the trials' hyperparameters and the chosen metric
// of every trial (one request each, once per load of the tab), turned into
// the table's rows.

import { fetchHparams, fetchManyScalars, type HparamValue, type ManySeries } from "./api";
import { message } from "./loader";
import { Memo } from "./memo";
import type { DataStore } from "./model";
import { SearchView } from "./search";
import type { State, Store } from "./state";
import { type Metric, metricChoices, metricKey, type TrialRow, trialRows, trialsOf } from "./trials";

// The metric a search is most often compared by (the tag of the default
// metric whenever Keras's TensorBoard wrote the runs: trials.ts,
// metricChoices), asked for before the runs listing names the metrics.
const LIKELY_TAG = "epoch_loss";
// Points per trial's metric: enough for a sparkline; best and final are exact
// (the route keeps every bucket's extremes and the last point).
const SPARK_POINTS = 64;

export class SearchPanel {
  readonly view: SearchView;
  private hparams: Record<string, Record<string, HparamValue>> = {};
  private hparamsFor = -1;
  private series = new Map<string, ManySeries>();
  private seriesFor = "";
  private seriesTag: string | null = null;
  private busy = new Set<string>();
  private version = 0;
  private readonly rows = new Memo<TrialRow[]>();
  error: string | null = null;

  constructor(
    store: Store,
    private readonly changed: () => void,
  ) {
    const s = store;
    this.view = new SearchView({
      sort: (column) => {
        const sort = s.state.trialSort;
        s.set({ trialSort: { column, descending: sort.column === column ? !sort.descending : false } });
      },
      filter: (text) => s.set({ trialFilter: text }),
      ending: (ending) => s.set({ trialEnding: ending }),
      // The x range follows the selection: fitted to the trials drawn.
      toggle: (trial) => {
        const trials = s.state.trials.includes(trial) ? s.state.trials.filter((t) => t !== trial) : [...s.state.trials, trial];
        s.set({ trials, zoom: null, focus: null });
      },
      clear: () => s.set({ trials: [], zoom: null, focus: null }),
      metric: (key) => s.set({ trialMetric: key }),
    });
  }

  /**
   * The first load's hyperparameters and likely metric, asked for beside
   * the runs listing rather than after it (which takes a second at 3,000
   * runs): answers for the first listing (`listed` 1). When the listing
   * names another metric, it is asked for then.
   */
  early(): void {
    this.fetch(1, LIKELY_TAG);
  }

  /**
   * Asks for the hyperparameters and the chosen metric of the trials of
   * `runs` once per load; `listed` counts the runs listings (loader.ts).
   * They need only the listing, so they load beside every run's events.
   */
  prefetch(state: State, data: DataStore, runs: string[], listed: number): void {
    const trials = trialsOf(runs, data);
    this.fetch(listed, this.metricOf(state, trials, data).metric?.tag ?? null);
  }

  private metricOf(state: State, trials: Map<string, string[]>, data: DataStore): { choices: Metric[]; metric: Metric | null } {
    const { choices, preferred } = metricChoices(trials, data);
    return { choices, metric: choices.find((m) => metricKey(m) === state.trialMetric) ?? preferred };
  }

  /** Renders the table of the trials of `runs` (asking for what it lacks, as `prefetch`). */
  render(state: State, data: DataStore, runs: string[], listed: number, dark: boolean): void {
    const trials = trialsOf(runs, data);
    const { choices, metric } = this.metricOf(state, trials, data);
    this.fetch(listed, metric?.tag ?? null);
    const rows = this.rows.get([data.eventsVersion, data.metricsVersion, runs.length, runs[0], runs[runs.length - 1], this.version, metric ? metricKey(metric) : ""], () =>
      trialRows(trials, data, this.hparams, metric, this.seriesTag === metric?.tag ? this.series : new Map()),
    );
    const names = new Set<string>();
    for (const trial of trials.keys()) for (const name of Object.keys(this.hparams[trial] ?? {})) names.add(name);
    const hparamNames = [...names].sort();
    this.view.update(rows, hparamNames, choices, metric, { sort: state.trialSort, filter: state.trialFilter, ending: state.trialEnding, selected: state.trials }, dark);
    this.view.el.dataset.loading = String(this.busy.size > 0);
  }

  private fetch(generation: number, tag: string | null): void {
    if (this.hparamsFor !== generation && !this.busy.has("hparams")) {
      this.busy.add("hparams");
      fetchHparams()
        .then((answer) => (this.hparams = answer.experiments))
        .catch((e) => (this.error = message(e)))
        .finally(() => this.arrived("hparams", () => (this.hparamsFor = generation)));
    }
    const key = `${generation}\u0000${tag}`;
    if (tag !== null && this.seriesFor !== key && !this.busy.has("series")) {
      this.busy.add("series");
      fetchManyScalars(tag, SPARK_POINTS)
        .then((answer) => {
          this.series = new Map(answer.series.map((s) => [s.run, s]));
          this.seriesTag = tag;
        })
        .catch((e) => (this.error = message(e)))
        .finally(() => this.arrived("series", () => (this.seriesFor = key)));
    }
  }

  private arrived(what: string, done: () => void): void {
    done();
    this.busy.delete(what);
    this.version += 1;
    this.changed();
  }
}
