// The search view: one row per trial (experiment), sortable by every column,
// filterable by text and by ending, with the count of each ending on top.
// Selecting rows draws those trials in the charts and timeline below.
// Virtualized like the event table: only the rows in view exist, so 3,000
// trials sort and filter in a few milliseconds.

import { kindStyle } from "./colors";
import { button, h } from "./dom";
import { fmtNumber } from "./format";
import { type Metric, metricKey, shownRows, type TrialColumn, type TrialRow } from "./trials";

const ROW_HEIGHT = 30;
const VIEWPORT_ROWS = 12;
const OVERSCAN = 6;
const SPARK_W = 120;
const SPARK_H = 22;

export interface SearchState {
  sort: { column: TrialColumn; descending: boolean };
  filter: string;
  ending: string | null;
  selected: string[];
}

export interface SearchCallbacks {
  sort(column: TrialColumn): void;
  filter(text: string): void;
  ending(ending: string | null): void;
  toggle(trial: string): void;
  clear(): void;
  metric(key: string): void;
}

interface Column {
  id: TrialColumn;
  label: string;
  numeric: boolean;
  width: string;
}

const ENDING_KIND: Record<string, string> = { completed: "train_end", early_stop: "early_stop", nan: "nan_terminated" };

function fmt(v: number | null, digits = 4): string {
  if (v === null) return "—";
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : String(Number(v.toPrecision(digits)));
}

function fmtDuration(s: number | null): string {
  if (s === null) return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export class SearchView {
  readonly el: HTMLElement;
  private readonly countsEl = h("div", { class: "search-endings", attrs: { role: "group", "aria-label": "Endings" } });
  private readonly filterInput = h("input", {
    class: "search-filter",
    attrs: { type: "search", placeholder: "Filter trials (name, ending, hparam=value)", "aria-label": "Filter trials" },
  });
  private readonly metricSelect = h("select", { class: "search-metric", attrs: { "aria-label": "Metric" } });
  private readonly selectedEl = h("span", { class: "muted" });
  private readonly head = h("div", { class: "search-row search-head", attrs: { role: "row" } });
  private readonly viewport = h("div", { class: "search-viewport", attrs: { tabindex: "0", role: "rowgroup", "aria-label": "Trials" } });
  private readonly spacer = h("div", { class: "search-spacer" });
  private readonly body = h("div", { class: "search-body" });
  private columns: Column[] = [];

  private shown: TrialRow[] = [];
  private state: SearchState | null = null;
  private shownKey: unknown[] = [];
  private active = 0;
  private dark = false;
  private ink = "#202124";
  private metricKeys = "";
  private columnsFor = "\u0002";

  constructor(private readonly callbacks: SearchCallbacks) {
    this.filterInput.addEventListener("input", () => callbacks.filter(this.filterInput.value));
    this.metricSelect.addEventListener("change", () => callbacks.metric(this.metricSelect.value));
    this.viewport.append(this.spacer, this.body);
    this.viewport.addEventListener("scroll", () => this.paint(), { passive: true });
    this.viewport.addEventListener("keydown", (e) => this.onKey(e));
    this.el = h(
      "section",
      { class: "card search-card", attrs: { "aria-label": "Trials of the search" } },
      h(
        "header",
        { class: "card-header search-header" },
        h("h2", { class: "card-title", text: "Trials" }),
        this.countsEl,
        h("span", { class: "spacer" }),
        h("label", { class: "toolbar-label" }, "Metric ", this.metricSelect),
        this.filterInput,
      ),
      h("div", { class: "search-table", attrs: { role: "table", "aria-label": "Trials" } }, this.head, this.viewport),
      h(
        "footer",
        { class: "search-footer" },
        this.selectedEl,
        button("Clear selection", () => callbacks.clear(), { class: "text-button" }),
        h("span", { class: "muted", text: "Click rows (or ↑ ↓ and Space) to draw those trials below." }),
      ),
    );
  }

  update(rows: TrialRow[], hparamNames: string[], metrics: Metric[], metric: Metric | null, state: SearchState, dark: boolean): void {
    const signature = [...hparamNames, metric?.tag ?? ""].join("\u0001");
    if (signature !== this.columnsFor) {
      this.columnsFor = signature;
      this.setColumns(hparamNames, metric);
    }
    this.dark = dark;

    this.state = state;
    const keys = metrics.map(metricKey).join("\u0002");
    if (keys !== this.metricKeys) {
      this.metricKeys = keys;
      this.metricSelect.replaceChildren(
        ...metrics.map((m) => h("option", { attrs: { value: metricKey(m) } }, m.suffix === "." ? m.tag : `${m.suffix} · ${m.tag}`)),
      );
    }
    if (metric) this.metricSelect.value = metricKey(metric);
    if (document.activeElement !== this.filterInput) this.filterInput.value = state.filter;
    const key = [rows, state.filter, state.ending, state.sort.column, state.sort.descending];
    if (key.some((k, i) => k !== this.shownKey[i])) {
      this.shown = shownRows(rows, state.filter, state.ending, state.sort.column, state.sort.descending);
      this.shownKey = key;
      this.active = Math.min(this.active, Math.max(0, this.shown.length - 1));
    }
    this.renderCounts(rows, state);
    this.renderHead(state);
    this.selectedEl.textContent = `${fmtNumber(state.selected.length)} of ${fmtNumber(rows.length)} trials selected · ${fmtNumber(this.shown.length)} shown`;
    this.el.dataset.rows = String(this.shown.length);
    this.el.dataset.trials = String(rows.length);
    this.el.dataset.selected = String(state.selected.length);
    this.spacer.style.height = `${this.shown.length * ROW_HEIGHT}px`;
    this.viewport.style.height = `${Math.min(VIEWPORT_ROWS, Math.max(1, this.shown.length)) * ROW_HEIGHT + 2}px`;
    this.paint();
  }

  private setColumns(hparamNames: string[], metric: Metric | null): void {
    const metricName = metric ? metric.tag : "metric";
    this.columns = [
      { id: "trial", label: "Trial", numeric: false, width: "minmax(120px, 1.4fr)" },
      ...hparamNames.map((n) => ({ id: `hp:${n}`, label: n, numeric: true, width: "minmax(70px, 0.8fr)" })),
      { id: "ending", label: "Ending", numeric: false, width: "minmax(96px, 0.9fr)" },
      { id: "endEpoch", label: "At epoch", numeric: true, width: "72px" },
      { id: "lrChanges", label: "LR changes", numeric: true, width: "78px" },
      { id: "checkpoints", label: "Checkpoints", numeric: true, width: "86px" },
      { id: "epochs", label: "Epochs", numeric: true, width: "64px" },
      { id: "duration", label: "Duration", numeric: true, width: "76px" },
      { id: "best", label: `Best ${metricName}`, numeric: true, width: "minmax(80px, 0.8fr)" },
      { id: "final", label: "Final", numeric: true, width: "minmax(70px, 0.7fr)" },
      { id: "spark", label: "Curve", numeric: false, width: `${SPARK_W + 8}px` },
    ];
    const template = ["28px", ...this.columns.map((c) => c.width)].join(" ");
    this.el.style.setProperty("--search-columns", template);
    this.body.replaceChildren();
  }

  private renderCounts(rows: TrialRow[], state: SearchState): void {
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r.ending, (counts.get(r.ending) ?? 0) + 1);
    const chips = [["", rows.length] as [string, number], ...[...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))];
    this.countsEl.replaceChildren(
      ...chips.map(([ending, n]) => {
        const on = (state.ending ?? "") === ending;
        const b = button(`${ending || "all"} ${fmtNumber(n)}`, () => this.callbacks.ending(ending || null), {
          class: `chip${on ? " on" : ""}`,
          attrs: { "aria-pressed": String(on), "data-ending": ending || "all", "data-count": n },
        });
        if (ending) b.style.setProperty("--chip", this.endingColor(ending));
        return b;
      }),
    );
  }

  private endingColor(ending: string): string {
    const kind = ENDING_KIND[ending];
    return kind ? kindStyle(kind, this.dark).color : "var(--cbe-muted)";
  }

  private renderHead(state: SearchState): void {
    this.head.replaceChildren(
      h("span", { class: "search-cell" }),
      ...this.columns.map((c) => {
        const sorted = state.sort.column === c.id;
        const cell = h("span", {
          class: `search-cell${c.numeric ? " num" : ""}`,
          attrs: { role: "columnheader", "aria-sort": sorted ? (state.sort.descending ? "descending" : "ascending") : "none" },
        });
        if (c.id === "spark") cell.textContent = c.label;
        else
          cell.append(
            button(`${c.label}${sorted ? (state.sort.descending ? " ▼" : " ▲") : ""}`, () => this.callbacks.sort(c.id), {
              class: "sort-button",
              attrs: { "data-column": c.id },
            }),
          );
        return cell;
      }),
    );
  }

  private paint(): void {
    const state = this.state;
    if (!state) return;
    const top = this.viewport.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.shown.length, Math.ceil((top + VIEWPORT_ROWS * ROW_HEIGHT) / ROW_HEIGHT) + OVERSCAN);
    const selected = new Set(state.selected);
    // Read once a paint, not per sparkline: each read forces a style
    // recalculation of the whole page (thousands of sidebar rows).
    this.ink = getComputedStyle(this.el).getPropertyValue("--cbe-text") || "#202124";
    const out: HTMLElement[] = [];
    for (let i = first; i < last; i++) out.push(this.rowEl(this.shown[i], i, selected.has(this.shown[i].trial)));
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this.body.replaceChildren(...out);
  }

  private rowEl(row: TrialRow, index: number, selected: boolean): HTMLElement {
    const cells: HTMLElement[] = [h("span", { class: "search-cell" }, h("input", { attrs: { type: "checkbox", tabindex: "-1", checked: selected, "aria-label": `Select ${row.trial}` } }))];
    for (const c of this.columns) {
      let content: Node | string;
      if (c.id.startsWith("hp:")) {
        const v = row.hparams[c.id.slice(3)];
        content = v === undefined || v === null ? "—" : typeof v === "number" ? fmt(v) : String(v);
      } else if (c.id === "trial") content = row.trial;
      else if (c.id === "ending") {
        const dot = h("span", { class: "swatch" });
        dot.style.setProperty("--swatch", this.endingColor(row.ending));
        content = h("span", { class: "run-ref" }, dot, row.ending);
      } else if (c.id === "endEpoch") content = row.endEpoch === null ? "—" : String(row.endEpoch);
      else if (c.id === "lrChanges") content = String(row.lrChanges);
      else if (c.id === "checkpoints") content = String(row.checkpoints);
      else if (c.id === "epochs") content = row.epochs === null ? "—" : String(row.epochs);
      else if (c.id === "duration") content = fmtDuration(row.duration);
      else if (c.id === "best") content = fmt(row.best);
      else if (c.id === "final") content = row.finalNote ?? fmt(row.final);
      else content = this.spark(row);
      cells.push(h("span", { class: `search-cell${c.numeric ? " num" : ""}`, attrs: { role: "cell", title: typeof content === "string" ? content : null } }, content));
    }
    const el = h(
      "div",
      {
        class: `search-row${selected ? " selected" : ""}${index === this.active ? " active" : ""}`,
        attrs: { role: "row", "aria-selected": String(selected), "data-trial": row.trial, "data-ending": row.ending, "data-end-epoch": row.endEpoch ?? "" },
      },
      ...cells,
    );
    el.addEventListener("click", () => {
      this.active = index;
      this.callbacks.toggle(row.trial);
    });
    return el;
  }

  private spark(row: TrialRow): HTMLCanvasElement {
    const pr = devicePixelRatio || 1;
    const canvas = h("canvas", { class: "sparkline", attrs: { width: SPARK_W * pr, height: SPARK_H * pr } });
    canvas.style.width = `${SPARK_W}px`;
    canvas.style.height = `${SPARK_H}px`;
    const ctx = canvas.getContext("2d");
    const s = row.spark;
    if (!ctx || !s || !s.step.length) return canvas;
    const x0 = s.step[0];
    const x1 = Math.max(s.step[s.step.length - 1], ...row.ticks.map((t) => t[0]), x0 + 1);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of s.value) if (v !== null) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    if (!(hi >= lo)) [lo, hi] = [0, 1];
    if (hi === lo) hi = lo + 1;
    const X = (x: number) => ((x - x0) / (x1 - x0)) * (SPARK_W - 2) * pr + pr;
    const Y = (v: number) => (SPARK_H - 3 - ((v - lo) / (hi - lo)) * (SPARK_H - 8)) * pr;
    for (const [epoch, kind] of row.ticks) {
      ctx.fillStyle = kindStyle(kind, this.dark).color;
      ctx.fillRect(Math.round(X(epoch)), 0, Math.max(1, pr), 4 * pr);
    }
    ctx.strokeStyle = this.ink;
    ctx.lineWidth = pr;
    ctx.beginPath();
    let pen = false;
    s.value.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      const x = X(s.step[i]);
      const y = Y(v);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
    return canvas;
  }

  private onKey(e: KeyboardEvent): void {
    const n = this.shown.length;
    if (!n) return;
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: VIEWPORT_ROWS, PageUp: -VIEWPORT_ROWS };
    if (e.key in moves) this.active = Math.max(0, Math.min(n - 1, this.active + moves[e.key]));
    else if (e.key === "Home") this.active = 0;
    else if (e.key === "End") this.active = n - 1;
    else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      this.callbacks.toggle(this.shown[this.active].trial);
      return;
    } else return;
    e.preventDefault();
    const top = this.active * ROW_HEIGHT;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + VIEWPORT_ROWS * ROW_HEIGHT) this.viewport.scrollTop = top - (VIEWPORT_ROWS - 1) * ROW_HEIGHT;
    this.paint();
  }
}
