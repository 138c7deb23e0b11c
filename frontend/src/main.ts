// The Callback Events tab. TensorBoard loads this module in an iframe
// (data/plugin_entry.html) and calls `render()`.

import { X_AXES, type XAxis } from "./axis";
import { Charts } from "./charts";
import { kindStyle, runColor } from "./colors";
import { FocusBar, segmented, type Segmented } from "./controls";
import { Details, type EventLook } from "./details";
import { sentenceOf } from "./explain_view";
import { button, h } from "./dom";
import { fmtNumber, fmtWallTime } from "./format";
import { connectToHost } from "./host";
import { Loader } from "./loader";
import type { Markers } from "./markers";
import { Memo } from "./memo";
import { DataStore, type Ev, missingSeries, planCharts, type Placed, type View, visibleRunsOf } from "./model";
import { banners, emptyState } from "./notices";
import { reportData } from "./report_data";
import { type PlotEnv, readTheme, type Theme } from "./plotbase";
import { runFilter } from "./runfilter";
import { SearchPanel } from "./searchpanel";
import { Sidebar } from "./sidebar";
import { showSidebar } from "./sidebarview";
import { type ColorBy, type State, Store } from "./state";
import { EventTable } from "./table";
import { watchTheme } from "./theme";
import { Timeline } from "./timeline";
import { Tooltip } from "./tooltip";
import { Views } from "./views";

const ZOOM_FACTOR = 1.6;
const PAN_FRACTION = 0.15;
// While data streams in, redraw at most this often: every redraw recomputes
// the view over all events.
const LOADING_RENDER_MS = 200;

class App {
  private readonly store = new Store();
  private readonly data = new DataStore();
  private theme: Theme;
  private view: View | null = null;
  private readonly views = new Views();
  private readonly sidebarShown = new Memo<true>();
  private gutter = 96;

  private readonly root: HTMLElement;
  private readonly content: HTMLElement;
  private readonly sidebar: Sidebar;
  private readonly axisControl: Segmented<XAxis>;
  private readonly colorControl: Segmented<ColorBy>;
  private readonly statusEl = h("span", { class: "status", attrs: { "aria-live": "polite" } });
  private readonly bannersEl = h("div", { class: "banners" });
  private readonly emptyEl = h("section", { class: "card empty-state", attrs: { hidden: true } });
  private readonly timelineCard: HTMLElement;
  private readonly timelineMessage = h("p", { class: "plot-message", attrs: { hidden: true } });
  private readonly timelineInfo = h("span", { class: "muted" });
  private readonly timeline: Timeline;
  private readonly charts: Charts;
  private readonly chartsMessage = h("div", { class: "charts-message", attrs: { hidden: true } });
  private readonly table: EventTable;
  private readonly details: Details;
  private readonly tooltip = new Tooltip();
  private readonly focusBar = new FocusBar((focus) => this.store.set({ focus }));
  private readonly search = new SearchPanel(this.store, () => this.scheduleRender());

  private readonly loader = new Loader(this.data, {
    changed: () => this.scheduleRender(),
    // A search's hyperparameters and metric need only the runs listing:
    // asked for at once, not at the next render (which may first wait for
    // every run's events to be taken in).
    listed: () => {
      const shown = visibleRunsOf(this.store.state, this.data);
      if (shown.search) this.search.prefetch(this.store.state, this.data, shown.search, this.loader.listed);
    },
    wanted: () => missingSeries(planCharts(this.store.state, this.data), this.data),
    eventRuns: () => this.eventRuns(visibleRunsOf(this.store.state, this.data)),
  });
  private renderTimer = 0;
  private renderFrame = 0;
  /** The stylesheet has loaded: nothing is drawn before (sizes depend on it). */
  private styled = false;
  private lastRender = 0;

  constructor(mount: HTMLElement) {
    const dark = watchTheme((d) => this.setDark(d));
    document.documentElement.classList.toggle("dark", dark);
    this.theme = readTheme(dark);

    const s = this.store;
    this.sidebar = new Sidebar({
      runFilter: (text) => s.set({ runFilter: text }),
      allRuns: (on) => {
        const hidden = new Set(s.state.hiddenRuns);
        // All/None act on the runs the filter shows, as in TensorBoard.
        const filter = runFilter(s.state.runFilter);
        const matching = this.data.runs.map((r) => r.run).filter((run) => filter.test(run));
        for (const run of matching) on ? hidden.delete(run) : hidden.add(run);
        s.set({ hiddenRuns: hidden });
      },
      toggleRun: (run, on) => {
        const hidden = new Set(s.state.hiddenRuns);
        on ? hidden.delete(run) : hidden.add(run);
        s.set({ hiddenRuns: hidden });
      },
      allKinds: (on) => s.set({ hiddenKinds: on ? new Set() : new Set(this.view?.allKinds ?? []) }),
      toggleKind: (kind, on) => {
        const hidden = new Set(s.state.hiddenKinds);
        on ? hidden.delete(kind) : hidden.add(kind);
        s.set({ hiddenKinds: hidden });
      },
      toggleTag: (tag, on) => {
        const current = this.currentTags();
        const next = on ? [...current.filter((t) => t !== tag), tag] : current.filter((t) => t !== tag);
        s.set({ tags: next });
      },
      resetTags: () => s.set({ tags: null }),
    });

    this.axisControl = segmented("cbe-x-axis", "X axis", X_AXES, (xAxis) => s.set({ xAxis, zoom: null }));
    this.colorControl = segmented(
      "cbe-color-by",
      "Color events by",
      [
        ["kind", "Kind"],
        ["run", "Run"],
      ],
      (colorBy) => s.set({ colorBy }),
    );

    const hover = (list: Placed[], e: MouseEvent | null) => {
      if (!list.length || !e) this.tooltip.hide();
      else this.tooltip.show(list.map((p) => p.ev), (ev) => this.look(ev), e.clientX, e.clientY);
      this.hoverOnCharts(list[0]?.ev.key ?? null);
    };
    const select = (p: Placed | null) => {
      this.tooltip.hide();
      s.set({ selected: p ? p.ev.key : null });
      if (p) this.table.reveal(p.ev.key);
    };
    this.timeline = new Timeline({ hover, select });
    this.charts = new Charts({
      hover,
      select,
      remove: (tag) => s.set({ tags: this.currentTags().filter((t) => t !== tag) }),
    });
    this.table = new EventTable({
      activate: (ev) => this.centreOn(ev),
      sort: (column) => {
        const sort = s.state.sort;
        s.set({ sort: { column, descending: sort.column === column ? !sort.descending : false } });
      },
      filter: (text) => s.set({ tableFilter: text }),
      look: (ev) => this.look(ev),
    });
    this.details = new Details({
      close: () => s.set({ selected: null }),
      centre: (ev) => this.centreOn(ev),
      step: (delta) => {
        const key = s.state.selected;
        const next = key ? this.table.neighbor(key, delta) : null;
        if (next) {
          this.centreOn(next);
          this.table.reveal(next.key);
        }
      },
    });

    const zoomHint = "Drag to zoom, double-click to reset; keys: + and − zoom, ← and → pan, 0 resets";
    this.timelineCard = h(
      "section",
      { class: "card timeline-card", attrs: { "aria-label": "Event timeline" } },
      h("header", { class: "card-header" }, h("h2", { class: "card-title", text: "Timeline" }), this.timelineInfo),
      this.timelineMessage,
      this.timeline.el,
    );
    this.timeline.el.setAttribute("tabindex", "0");
    this.timeline.el.setAttribute("aria-label", `Event timeline. ${zoomHint}`);
    this.timeline.el.title = zoomHint;

    const toolbar = h(
      "div",
      { class: "toolbar" },
      h("h1", { class: "title", text: "Callback Events" }),
      h("span", { class: "toolbar-label", text: "X axis" }),
      this.axisControl.el,
      h("span", { class: "toolbar-label", text: "Color" }),
      this.colorControl.el,
      h(
        "div",
        { class: "zoom-buttons", attrs: { role: "group", "aria-label": "Zoom" } },
        button("−", () => this.zoomBy(ZOOM_FACTOR), { class: "icon-button", title: "Zoom out (−)", attrs: { "aria-label": "Zoom out" } }),
        button("+", () => this.zoomBy(1 / ZOOM_FACTOR), { class: "icon-button", title: "Zoom in (+)", attrs: { "aria-label": "Zoom in" } }),
        button("Reset zoom", () => this.resetZoom(), { class: "text-button", title: "Show everything (0, or double-click a chart)" }),
      ),
      h("span", { class: "spacer" }),
      this.statusEl,
    );

    this.content = h(
      "main",
      { class: "content" },
      toolbar,
      this.bannersEl,
      this.emptyEl,
      this.search.view.el,
      this.timelineCard,
      this.focusBar.el,
      this.chartsMessage,
      this.charts.el,
      this.table.el,
    );
    this.content.addEventListener("keydown", (e) => this.onPlotKey(e));
    this.root = h("div", { class: "cbe-app", attrs: { "data-state": "loading" } }, this.sidebar.el, this.content, this.details.el);
    mount.append(this.root, this.tooltip.el);

    this.axisControl.set(s.state.xAxis);
    this.colorControl.set(s.state.colorBy);
    s.subscribe((state, changed) => this.onState(state, changed));
    new ResizeObserver(() => this.onResize()).observe(this.content);
    document.addEventListener("scroll", () => this.tooltip.hide(), { passive: true });
  }

  /** Loads at once; draws once `styled` (the stylesheet) has loaded. */
  start(styled: Promise<void>): void {
    void this.loader.load();
    if (!reportData()) this.search.early();
    void styled.then(() => {
      this.styled = true;
      this.renderNow();
    });
    // A report's data never changes, and no host is there to reload it.
    if (!reportData()) connectToHost(() => void this.loader.load());
  }

  // ------------------------------------------------------------ state

  private onState(state: State, changed: ReadonlySet<keyof State>): void {
    if (changed.has("xAxis")) this.axisControl.set(state.xAxis);
    if (changed.has("colorBy")) this.colorControl.set(state.colorBy);
    const onlyZoom = [...changed].every((k) => k === "zoom");
    if (onlyZoom) {
      this.applyWindow();
      return;
    }
    const markers = this.views.currentMarkers();
    if (changed.has("selected") && markers.length) {
      for (const m of markers) m.selectedKey = state.selected;
      this.timeline.redraw();
      this.charts.redraw();
    }
    this.renderNow();
  }

  /** The hovered event's decision is drawn on the charts (explain_view.ts): redraw them when it changes. */
  private hoverOnCharts(key: string | null): void {
    const markers = this.views.currentMarkers();
    if (markers.every((m) => m.hoveredKey === key)) return;
    for (const m of markers) m.hoveredKey = key;
    this.charts.redraw();
  }

  private currentTags(): string[] {
    return this.view?.charts.map((c) => c.tag) ?? [];
  }

  private window(): readonly [number, number] {
    return this.store.state.zoom ?? this.view?.domain ?? [0, 1];
  }

  private zoomBy(factor: number, centre?: number): void {
    const [a, b] = this.window();
    const c = centre ?? (a + b) / 2;
    this.store.set({ zoom: [c - (c - a) * factor, c + (b - c) * factor] });
  }

  private pan(fraction: number): void {
    const [a, b] = this.window();
    const d = (b - a) * fraction;
    this.store.set({ zoom: [a + d, b + d] });
  }

  private resetZoom(): void {
    this.store.set({ zoom: null });
  }

  private centreOn(ev: Ev): void {
    const placed = this.view?.placedByKey.get(ev.key);
    if (!placed) {
      this.store.set({ selected: ev.key });
      return;
    }
    const domain = this.view?.domain;
    const [a, b] = this.window();
    let width = b - a;
    if (!this.store.state.zoom && domain) width = (domain[1] - domain[0]) / 4;
    this.store.set({ selected: ev.key, zoom: [placed.x - width / 2, placed.x + width / 2] });
  }

  private onPlotKey(e: KeyboardEvent): void {
    const target = e.target as HTMLElement;
    if (!target.closest(".timeline-plot, .chart-plot")) return;
    const keys: Record<string, () => void> = {
      "+": () => this.zoomBy(1 / ZOOM_FACTOR),
      "=": () => this.zoomBy(1 / ZOOM_FACTOR),
      "-": () => this.zoomBy(ZOOM_FACTOR),
      _: () => this.zoomBy(ZOOM_FACTOR),
      ArrowLeft: () => this.pan(-PAN_FRACTION),
      ArrowRight: () => this.pan(PAN_FRACTION),
      "0": () => this.resetZoom(),
      Home: () => this.resetZoom(),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  private setDark(dark: boolean): void {
    document.documentElement.classList.toggle("dark", dark);
    this.theme = readTheme(dark);
    this.views.reset();
    this.table.resetStyles();
    this.renderNow();
  }

  look(ev: Ev): EventLook {
    const style = kindStyle(ev.kind, this.theme.dark);
    const t0 = this.view?.t0.get(this.data.group(ev.run)) ?? ev.wall_time;
    return {
      shape: style.shape,
      kindColor: style.color,
      runColor: runColor(this.data.colorSlot(ev.run), this.theme.dark),
      relative: ev.wall_time - t0,
    };
  }

  // ------------------------------------------------------------ rendering

  private scheduleRender(): void {
    if (this.renderFrame) return;
    const wait = this.loader.loading ? Math.max(0, LOADING_RENDER_MS - (performance.now() - this.lastRender)) : 0;
    if (this.renderTimer) {
      if (wait > 0) return;
      // The load ended while a throttled render waited: what it brought
      // (a search's table, first of all) is drawn at the next frame.
      clearTimeout(this.renderTimer);
      this.renderTimer = 0;
    }
    this.renderTimer = window.setTimeout(() => {
      this.renderTimer = 0;
      this.renderFrame = requestAnimationFrame(() => {
        this.renderFrame = 0;
        this.renderNow();
      });
    }, wait);
  }

  private plotWidth(): number {
    return Math.max(200, Math.floor(this.timelineCard.clientWidth - 24));
  }

  private env(): PlotEnv {
    return {
      theme: this.theme,
      xAxis: this.store.state.xAxis,
      gutter: this.gutter,
      window: () => this.window(),
      zoomTo: (min, max) => this.store.set({ zoom: [min, max] }),
      resetZoom: () => this.resetZoom(),
    };
  }

  private applyWindow(): void {
    const w = this.window();
    this.exposeWindow();
    this.timeline.setWindow(w);
    this.charts.setWindow(w);
  }

  private onResize(): void {
    if (!this.view || this.content.clientWidth === 0) return;
    const width = this.plotWidth();
    this.timeline.setWidth(width);
    this.charts.setWidth(width);
  }

  private computeGutter(lanes: string[]): number {
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return 120;
    ctx.font = '12px Roboto, "Helvetica Neue", Arial, sans-serif';
    const widest = Math.max(0, ...lanes.map((k) => ctx.measureText(k).width));
    return Math.round(Math.min(200, Math.max(80, widest + 36)));
  }

  private renderNow(): void {
    if (!this.styled) return;
    this.lastRender = performance.now();
    const state = this.store.state;
    const data = this.data;
    // Until every shown run's events are in, show progress only: each full
    // render goes over all events loaded so far and would slow the loading.
    const shown = visibleRunsOf(state, data);
    const visible = this.eventRuns(shown) ?? shown.runs;
    this.loader.requestEvents();
    const pending = visible.filter((r) => !data.events.has(r) && !data.eventErrors.has(r)).length;
    if (pending && data.runs.length && !data.runsError) {
      // A search's hyperparameters and metric need only the runs listing:
      // asked for now, they arrive beside the events.
      if (shown.search) this.search.prefetch(state, data, shown.search, this.loader.listed);
      this.renderProgress(visible.length, pending);
      return;
    }
    const { view, markers, chartMarkers } = this.views.compute(state, data, this.theme.dark);
    this.view = view;

    // A search's runs are all shown (in its table) even with no trial drawn.
    // Only when what it shows changed: a search's thousands of runs make it
    // the costliest part of a sort or filter of the trials' table otherwise.
    const sidebarInputs = [
      data.eventsVersion,
      data.metricsVersion,
      state.runFilter,
      [...state.hiddenRuns].join("\u0001"),
      [...state.hiddenKinds].join("\u0001"),
      state.trials.join("\u0001"),
      state.tags?.join("\u0001") ?? "\u0002",
      state.focus,
      this.theme.dark,
    ];
    this.sidebarShown.get(sidebarInputs, () => showSidebar(this.sidebar, view, state, data, this.theme.dark, shown.search ?? view.visibleRuns));
    const hasRuns = this.renderEmpty(view);
    this.search.view.el.hidden = !shown.search || !hasRuns;
    if (shown.search && hasRuns) {
      this.search.render(state, data, shown.search, this.loader.listed, this.theme.dark);
    }
    // A search with no trial selected is its table alone.
    const tableOnly = Boolean(shown.search) && !state.trials.length;
    const settled = !this.loader.busy && view.loadingEvents === 0 && !view.missingScalars.length;

    for (const el of [this.timelineCard, this.charts.el, this.table.el]) if (tableOnly || hasRuns) el.hidden = tableOnly;
    if (tableOnly) {
      this.focusBar.el.hidden = true;
      this.chartsMessage.hidden = true;
    }
    if (hasRuns && !tableOnly) {
      this.gutter = this.computeGutter(view.lanes);
      const env = this.env();
      const width = this.plotWidth();
      this.renderTimeline(view, env, view.focused === null ? markers : chartMarkers, width);
      this.focusBar.update(view.experiments, view.focused);
      this.renderCharts(view, env, chartMarkers, width);
      this.table.update(view.events, state.sort, state.tableFilter, state.selected);
      const selected = state.selected ? view.events.find((e) => e.key === state.selected) ?? null : null;
      this.details.show(selected, selected ? this.look(selected) : null, selected ? sentenceOf(selected, this.data) : null);
      this.root.classList.toggle("with-details", Boolean(selected));
    } else {
      this.details.show(null, null);
      this.root.classList.remove("with-details");
    }
    this.loader.requestScalars();
    this.renderStatus(view, settled);
    this.root.dataset.state = data.runsError ? "error" : !data.loadedOnce || !settled ? "loading" : hasRuns ? "ready" : "empty";
    this.root.dataset.generation = String(this.loader.generation);
    this.root.dataset.xAxis = state.xAxis;
    this.exposeWindow();
  }

  /** The runs whose events the view needs (null: every run's). A search's
   * table reads each run's digest from the listing, so it needs the events
   * of the trials drawn only (and of any run without a digest: a report's). */
  private eventRuns(shown: ReturnType<typeof visibleRunsOf>): string[] | null {
    if (!shown.search) return null;
    const data = this.data;
    const undigested = shown.search.filter((run) => !data.runs[data.runIndex.get(run) ?? -1]?.digest);
    return undigested.length ? [...new Set([...shown.runs, ...undigested])] : shown.runs;
  }

  /** The x range shown, as data attributes (for tests and automation). */
  private exposeWindow(): void {
    const zoom = this.store.state.zoom;
    this.root.dataset.zoom = zoom ? zoom.map((v) => v.toPrecision(8)).join(",") : "";
    const domain = this.view?.domain;
    this.root.dataset.domain = domain ? domain.map((v) => v.toPrecision(8)).join(",") : "";
  }

  private renderProgress(total: number, pending: number): void {
    this.emptyEl.hidden = true;
    this.timelineCard.hidden = false;
    this.timelineMessage.textContent = `Loading events… ${total - pending} of ${total} runs`;
    this.timelineMessage.hidden = false;
    this.timeline.el.hidden = true;
    this.statusEl.textContent = "loading…";
    this.root.dataset.state = "loading";
  }

  /** The whole-tab empty and error states; false when there is nothing else to show. */
  private renderEmpty(view: View): boolean {
    this.bannersEl.replaceChildren(...banners(this.data, view.visibleRuns, this.loader.reloadError));
    const content = emptyState(this.data, () => void this.loader.load());
    const empty = content !== null;
    this.emptyEl.hidden = !empty;
    if (content) this.emptyEl.replaceChildren(...content);
    for (const el of [this.timelineCard, this.charts.el, this.table.el]) el.hidden = empty;
    if (empty) this.focusBar.el.hidden = true;
    if (empty) this.chartsMessage.hidden = true;
    return !empty;
  }

  private renderTimeline(view: View, env: PlotEnv, markers: Markers, width: number): void {
    let text = "";
    if (!view.visibleRuns.length) text = "No runs selected. Choose runs on the left.";
    else if (view.loadingEvents && !view.lanes.length) text = "Loading events…";
    else if (!view.lanes.length) text = this.store.state.hiddenKinds.size ? "No event kinds selected." : "The selected runs have no events.";
    else if (!view.placedCount) text = `None of the shown events has a position on the ${this.store.state.xAxis} axis.`;
    this.timelineMessage.textContent = text;
    this.timelineMessage.hidden = !text;
    this.timeline.el.hidden = Boolean(text);
    const count = markers.all.length;
    const of = view.focused === null ? "" : ` of ${view.focused}`;
    this.timelineInfo.textContent = count
      ? `${fmtNumber(count)} event${count === 1 ? "" : "s"}${of} in ${view.lanes.length} kind${view.lanes.length === 1 ? "" : "s"}`
      : "";
    this.timeline.el.dataset.drawn = String(count);
    if (!text) this.timeline.update(env, view.lanes, markers, width);
    else this.timeline.destroy();
  }

  private renderCharts(view: View, env: PlotEnv, markers: Markers, width: number): void {
    const notes: string[] = [];
    for (const run of view.runsWithoutMetrics) notes.push(`${run} has no scalar metrics.`);
    if (view.visibleRuns.length && !view.charts.length) {
      const listed = view.visibleRuns.every((r) => this.data.tags.has(r));
      if (!listed) notes.push("Loading metrics…");
      else if (view.availableTags.length) notes.push("No metric charted. Choose metrics on the left.");
      else notes.push("The selected runs have no scalar metrics to draw beside the events.");
    }
    this.chartsMessage.replaceChildren(...notes.map((n) => h("p", { class: "muted", text: n })));
    this.chartsMessage.hidden = !notes.length;
    this.charts.update(view.charts, env, markers, width);
  }

  private renderStatus(view: View, settled: boolean): void {
    const parts: string[] = [];
    const shown = view.events.length;
    if (this.data.runs.length) {
      parts.push(`${fmtNumber(shown)} event${shown === 1 ? "" : "s"} · ${view.visibleRuns.length} run${view.visibleRuns.length === 1 ? "" : "s"}`);
    }
    if (!settled) parts.push("loading…");
    else if (this.loader.lastLoaded) parts.push(`updated ${fmtWallTime(this.loader.lastLoaded / 1000).slice(11)}`);
    this.statusEl.textContent = parts.join(" · ");
  }
}

function loadStylesheet(): Promise<void> {
  return new Promise((resolve) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("./index.css", import.meta.url).href;
    link.addEventListener("load", () => resolve());
    link.addEventListener("error", () => resolve());
    document.head.append(link);
  });
}

let started = false;

/** Entry point called by TensorBoard's plugin_entry.html. */
export async function render(): Promise<void> {
  if (started) return;
  started = true;
  document.documentElement.lang ||= "en";
  const report = reportData();
  document.title = report?.title || "Callback Events";
  // The data is asked for while the stylesheet loads (a report inlines its styles).
  new App(document.body).start(report ? Promise.resolve() : loadStylesheet());
}

// A report page has no TensorBoard to call render(): it starts itself.
if (reportData()) void render();
