// What the user chose. Everything here survives a data reload; data itself
// lives in `model.ts`.

import type { XAxis } from "./axis";

export type ColorBy = "kind" | "run";
export type SortColumn = "run" | "kind" | "step" | "epoch" | "time" | "source" | "message";

export interface State {
  xAxis: XAxis;
  colorBy: ColorBy;
  runFilter: string;
  /** Runs the user turned off. New runs appear switched on, as in TensorBoard. */
  hiddenRuns: Set<string>;
  hiddenKinds: Set<string>;
  /** Metric tags drawn, in order; null means the defaults. */
  tags: string[] | null;
  /** Visible x range, or null for everything. In units of `xAxis`. */
  zoom: readonly [number, number] | null;
  /** Key of the event shown in the details panel. */
  selected: string | null;
  sort: { column: SortColumn; descending: boolean };
  tableFilter: string;
  /** The experiment the charts show when there are too many for one chart; null: the first. */
  focus: string | null;
  /** The search view (many experiments shown): trials selected in its table, drawn below. */
  trials: string[];
  trialSort: { column: string; descending: boolean };
  trialFilter: string;
  /** Only trials that ended this way; null: all. */
  trialEnding: string | null;
  /** The metric compared (metricKey of trials.ts); null: the default. */
  trialMetric: string | null;
}

export type Listener = (state: State, changed: ReadonlySet<keyof State>) => void;

export class Store {
  state: State = {
    xAxis: "step",
    colorBy: "kind",
    runFilter: "",
    hiddenRuns: new Set(),
    hiddenKinds: new Set(),
    tags: null,
    zoom: null,
    selected: null,
    sort: { column: "step", descending: false },
    tableFilter: "",
    focus: null,
    trials: [],
    trialSort: { column: "trial", descending: false },
    trialFilter: "",
    trialEnding: null,
    trialMetric: null,
  };

  private readonly listeners: Listener[] = [];

  subscribe(listener: Listener): void {
    this.listeners.push(listener);
  }

  set(patch: Partial<State>): void {
    const changed = new Set<keyof State>();
    for (const key of Object.keys(patch) as Array<keyof State>) {
      if (this.state[key] !== patch[key]) changed.add(key);
    }
    if (!changed.size) return;
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener(this.state, changed);
  }
}
