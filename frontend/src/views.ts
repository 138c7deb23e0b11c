// The view of the data, recomputed per half: what the timeline and table
// show (events) and what the charts show (metrics), each only when its own
// inputs changed, and the markers drawn from the events.

import { Markers } from "./markers";
import { Memo } from "./memo";
import { type ChartView, computeChartView, computeEventView, type DataStore, type EventView, joinViews, type View } from "./model";
import type { State } from "./state";

export class Views {
  private readonly events = new Memo<EventView>();
  private readonly charts = new Memo<ChartView>();
  private readonly markers = new Memo<Markers>();
  private readonly chartMarkers = new Memo<Markers>();

  /** The view, all markers and the charts' and timeline's (only the charted experiment's). */
  compute(state: State, data: DataStore, dark: boolean): { view: View; markers: Markers; chartMarkers: Markers } {
    const selection = [state.runFilter, [...state.hiddenRuns].join("\u0001"), state.trials.join("\u0001")].join("\u0000");
    // Event positions depend on metrics only through epoch maps (events
    // without an epoch, on the epoch axis).
    const eventInputs = [
      data.eventsVersion,
      state.xAxis === "epoch" ? data.metricsVersion : 0,
      state.xAxis,
      selection,
      [...state.hiddenKinds].join("\u0001"),
    ];
    const events = this.events.get(eventInputs, () => computeEventView(state, data));
    const chartInputs = [
      data.metricsVersion,
      data.eventsVersion,
      state.xAxis,
      selection,
      state.tags?.join("\u0001") ?? "\u0002",
      state.focus,
      dark,
    ];
    const charts = this.charts.get(chartInputs, () => computeChartView(state, data, dark));
    const markers = this.markers.get([...eventInputs, state.colorBy, dark], () => new Markers(events.byLane, state.colorBy, dark));
    markers.selectedKey = state.selected;
    const focused = charts.focused;
    const chartMarkers =
      focused === null
        ? markers
        : this.chartMarkers.get([...eventInputs, state.colorBy, dark, focused], () =>
            new Markers(events.byLane.map((lane) => lane.filter((p) => data.group(p.ev.run) === focused)), state.colorBy, dark),
          );
    // "Charts of" one experiment: the x range is fitted to it, and the
    // timeline (which then draws chartMarkers) follows.
    const xs = chartMarkers.xs;
    const eventRange = focused === null ? events.eventRange : xs.length ? ([xs[0], xs[xs.length - 1]] as const) : null;
    const view = joinViews({ ...events, eventRange }, charts);
    chartMarkers.selectedKey = state.selected;
    return { view, markers, chartMarkers };
  }

  /** The markers last drawn, if any. */
  currentMarkers(): Markers[] {
    return [this.markers.peek(), this.chartMarkers.peek()].filter((m): m is Markers => m !== undefined);
  }

  /** Drop everything (the theme's colours changed). */
  reset(): void {
    this.events.reset();
    this.charts.reset();
    this.markers.reset();
    this.chartMarkers.reset();
  }
}
