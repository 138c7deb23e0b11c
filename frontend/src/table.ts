// The event table: sortable, filterable, and virtualized (only the rows in
// view exist in the DOM, so 100,000 events scroll smoothly).

import { h, uid } from "./dom";
import { fmtDataInline, fmtEpoch, fmtNumber, fmtWallTime } from "./format";
import type { Ev } from "./model";
import { glyph, type Shape } from "./shapes";
import type { SortColumn } from "./state";

export const ROW_HEIGHT = 28;
const OVERSCAN = 8;
const VIEWPORT_ROWS = 14;

interface Column {
  id: SortColumn | "data";
  label: string;
  numeric?: boolean;
}

const COLUMNS: Column[] = [
  { id: "run", label: "Run" },
  { id: "kind", label: "Kind" },
  { id: "step", label: "Step", numeric: true },
  { id: "epoch", label: "Epoch", numeric: true },
  { id: "time", label: "Time" },
  { id: "source", label: "Source" },
  { id: "message", label: "Message" },
  { id: "data", label: "Data" },
];

export interface TableCallbacks {
  activate(ev: Ev): void;
  sort(column: SortColumn): void;
  filter(text: string): void;
  look(ev: Ev): { shape: Shape; kindColor: string; runColor: string };
}

const TAIL_CHARS = 48;

/**
 * A message as [head, tail]: callbacks write the reason first and the
 * outcome last ("val_loss did not improve for 2 epochs: learning rate 0.1 ->
 * 0.05"), so a cell too narrow keeps the outcome whole and cuts the reason
 * instead. The outcome is a change "a -> b" when there is one, else what
 * follows the last ": "; tail is "" when there is nothing to keep.
 */
export function messageParts(message: string): [string, string] {
  const arrow = message.lastIndexOf(" -> ");
  let i = arrow > 0 ? message.lastIndexOf(" ", arrow - 1) + 1 : -1;
  if (i <= 0) {
    const colon = message.lastIndexOf(": ");
    i = colon > 0 ? colon + 2 : -1;
  }
  if (i <= 0 || message.length - i > TAIL_CHARS) return [message, ""];
  return [message.slice(0, i), message.slice(i)];
}

function searchText(e: Ev): string {
  if (e.search === undefined) {
    e.search = [e.run, e.kind, e.source ?? "", e.message, fmtDataInline(e.data)].join("\u0001").toLowerCase();
  }
  return e.search;
}

function compare(column: SortColumn): (a: Ev, b: Ev) => number {
  const text = (f: (e: Ev) => string) => (a: Ev, b: Ev) => {
    const x = f(a);
    const y = f(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  switch (column) {
    case "run":
      return text((e) => e.run);
    case "kind":
      return text((e) => e.kind);
    case "source":
      return text((e) => e.source ?? "");
    case "message":
      return text((e) => e.message);
    case "epoch":
      return (a, b) => (a.epoch ?? -1) - (b.epoch ?? -1);
    case "time":
      return (a, b) => a.wall_time - b.wall_time;
    default:
      return (a, b) => a.step - b.step;
  }
}

export class EventTable {
  readonly el: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly countEl: HTMLElement;
  private readonly filterInput: HTMLInputElement;
  private readonly headers = new Map<string, HTMLElement>();
  private rows: Ev[] = [];
  private source: Ev[] | null = null;
  private sortKey = "";
  private filterText = "";
  private rowEls: HTMLElement[] = [];
  private active = -1;
  private selectedKey: string | null = null;
  private frame = 0;
  private readonly glyphs = new Map<string, SVGSVGElement>();

  constructor(private readonly callbacks: TableCallbacks) {
    this.countEl = h("span", { class: "muted table-count", attrs: { "aria-live": "polite" } });
    this.filterInput = h("input", {
      class: "text-input",
      attrs: { type: "search", placeholder: "Filter events…", "aria-label": "Filter events by text", spellcheck: "false" },
    });
    this.filterInput.addEventListener("input", () => callbacks.filter(this.filterInput.value));
    const headerRow = h("div", { class: "grid-row header-row", attrs: { role: "row", "aria-rowindex": 1 } });
    for (const col of COLUMNS) {
      const cell = h("div", {
        class: `cell head${col.numeric ? " num" : ""}`,
        attrs: { role: "columnheader", "data-col": col.id },
      });
      if (col.id === "data") cell.textContent = col.label;
      else {
        const b = h("button", { class: "sort-button", attrs: { type: "button" } }, col.label);
        b.addEventListener("click", () => callbacks.sort(col.id as SortColumn));
        cell.append(b);
      }
      this.headers.set(col.id, cell);
      headerRow.append(cell);
    }
    this.spacer = h("div", { class: "table-spacer" });
    this.viewport = h(
      "div",
      {
        class: "table-viewport",
        attrs: { tabindex: 0, role: "rowgroup", "aria-label": "Events (arrow keys move, Enter shows)" },
      },
      this.spacer,
    );
    this.viewport.addEventListener("scroll", () => this.schedule());
    this.viewport.addEventListener("keydown", (e) => this.onKey(e));
    this.viewport.addEventListener("click", (e) => {
      const row = (e.target as Element).closest<HTMLElement>(".grid-row");
      const index = row ? Number(row.dataset.index) : -1;
      if (index >= 0 && this.rows[index]) {
        this.active = index;
        callbacks.activate(this.rows[index]);
        this.render();
      }
    });
    this.el = h(
      "section",
      { class: "card table-card", attrs: { "aria-label": "Event table" } },
      h("header", { class: "card-header" }, h("h2", { class: "card-title", text: "Events" }), this.countEl, h("span", { class: "spacer" }), this.filterInput),
      h("div", { class: "grid", attrs: { role: "grid", "aria-label": "Callback events" } }, headerRow, this.viewport),
    );
  }

  update(events: Ev[], sort: { column: SortColumn; descending: boolean }, filter: string, selectedKey: string | null): void {
    const sortKey = `${sort.column}:${sort.descending}`;
    if (events !== this.source || sortKey !== this.sortKey || filter !== this.filterText) {
      const needle = filter.trim().toLowerCase();
      let rows = needle ? events.filter((e) => searchText(e).includes(needle)) : events.slice();
      const cmp = compare(sort.column);
      const tie = compare("step");
      rows = rows.sort((a, b) => cmp(a, b) || tie(a, b) || a.wall_time - b.wall_time);
      if (sort.descending) rows.reverse();
      const activeKey = this.rows[this.active]?.key;
      this.rows = rows;
      this.active = activeKey ? rows.findIndex((e) => e.key === activeKey) : -1;
      this.source = events;
      this.sortKey = sortKey;
      this.filterText = filter;
      if (this.filterInput.value !== filter) this.filterInput.value = filter;
      for (const [id, cell] of this.headers) {
        cell.setAttribute("aria-sort", id === sort.column ? (sort.descending ? "descending" : "ascending") : "none");
      }
      this.countEl.textContent =
        rows.length === events.length
          ? `${fmtNumber(events.length)} event${events.length === 1 ? "" : "s"}`
          : `${fmtNumber(rows.length)} of ${fmtNumber(events.length)} events`;
      this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
      this.viewport.style.height = `${Math.max(3, Math.min(VIEWPORT_ROWS, rows.length)) * ROW_HEIGHT}px`;
      this.el.querySelector(".grid")?.setAttribute("aria-rowcount", String(rows.length + 1));
    }
    this.selectedKey = selectedKey;
    this.render();
  }

  /** Scrolls to and marks the row of `key` (after a click on a marker). */
  reveal(key: string): void {
    const index = this.rows.findIndex((e) => e.key === key);
    if (index < 0) return;
    this.active = index;
    this.scrollTo(index);
    this.render();
  }

  /** The event `delta` rows from `key` in the table's current order. */
  neighbor(key: string, delta: number): Ev | null {
    const index = this.rows.findIndex((e) => e.key === key);
    if (index < 0) return this.rows[0] ?? null;
    return this.rows[Math.max(0, Math.min(this.rows.length - 1, index + delta))] ?? null;
  }

  get rowCount(): number {
    return this.rows.length;
  }

  private schedule(): void {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  private scrollTo(index: number): void {
    const top = index * ROW_HEIGHT;
    const vp = this.viewport;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW_HEIGHT > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_HEIGHT - vp.clientHeight;
  }

  private onKey(e: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    let next = this.active;
    if (e.key in moves) next = Math.max(0, this.active + moves[e.key]);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = this.rows.length - 1;
    else if ((e.key === "Enter" || e.key === " ") && this.rows[this.active]) {
      e.preventDefault();
      this.callbacks.activate(this.rows[this.active]);
      return;
    } else return;
    e.preventDefault();
    this.active = Math.min(this.rows.length - 1, next);
    this.scrollTo(this.active);
    this.render();
  }

  private kindGlyph(ev: Ev): SVGSVGElement {
    let g = this.glyphs.get(ev.kind);
    if (!g) {
      const look = this.callbacks.look(ev);
      this.glyphs.set(ev.kind, (g = glyph(look.shape, look.kindColor, 11)));
    }
    return g.cloneNode(true) as SVGSVGElement;
  }

  /** Clears cached glyphs (their colours depend on the theme). */
  resetStyles(): void {
    this.glyphs.clear();
    this.source = null;
  }

  private makeRow(): HTMLElement {
    const row = h("div", { class: "grid-row", attrs: { role: "row", id: uid("row") } });
    for (const col of COLUMNS) {
      row.append(h("div", { class: `cell${col.numeric ? " num" : ""}`, attrs: { role: "gridcell", "data-col": col.id } }));
    }
    this.viewport.append(row);
    return row;
  }

  private render(): void {
    const vp = this.viewport;
    const height = vp.clientHeight || VIEWPORT_ROWS * ROW_HEIGHT;
    const first = Math.max(0, Math.floor(vp.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((vp.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    const needed = last - first;
    while (this.rowEls.length < needed) this.rowEls.push(this.makeRow());
    let activeId: string | null = null;
    this.rowEls.forEach((row, slot) => {
      const index = first + slot;
      const ev = this.rows[index];
      if (!ev || slot >= needed) {
        row.hidden = true;
        return;
      }
      row.hidden = false;
      if (row.dataset.key !== ev.key || row.dataset.index !== String(index)) this.fillRow(row, ev);
      row.dataset.index = String(index);
      row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      row.setAttribute("aria-rowindex", String(index + 2));
      row.classList.toggle("selected", ev.key === this.selectedKey);
      row.classList.toggle("active", index === this.active);
      row.setAttribute("aria-selected", String(ev.key === this.selectedKey));
      if (index === this.active) activeId = row.id;
    });
    if (activeId) vp.setAttribute("aria-activedescendant", activeId);
    else vp.removeAttribute("aria-activedescendant");
  }

  private fillRow(row: HTMLElement, ev: Ev): void {
    row.dataset.key = ev.key;
    const cells = row.children as HTMLCollectionOf<HTMLElement>;
    const look = this.callbacks.look(ev);
    const runCell = cells[0];
    runCell.replaceChildren(h("span", { class: "swatch", attrs: { style: `--swatch:${look.runColor}` } }), ev.run);
    runCell.title = ev.run;
    cells[1].replaceChildren(this.kindGlyph(ev), ev.kind);
    cells[2].textContent = fmtNumber(ev.step);
    cells[3].textContent = fmtEpoch(ev.epoch);
    cells[4].textContent = fmtWallTime(ev.wall_time);
    cells[5].textContent = ev.source ?? "—";
    const [head, tail] = messageParts(ev.message);
    const parts: Node[] = [h("span", { class: "msg-head", text: head })];
    if (tail) parts.push(h("span", { class: "msg-tail", text: tail }));
    cells[6].replaceChildren(...parts);
    cells[6].title = ev.message;
    const data = fmtDataInline(ev.data);
    cells[7].textContent = data;
    cells[7].title = data;
  }
}
