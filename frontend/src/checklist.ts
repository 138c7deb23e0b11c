// A keyed list of checkboxes (the sidebar's runs, kinds and metrics),
// updated in place so focus survives reloads. A long list (a search's
// thousands of runs) is virtualized: only the rows in its scroll box exist,
// so the page has tens of rows to style and lay out, not thousands (styling
// 3,000 runs' rows took about half a second of a search's first render).
// Arrow keys move between rows in either form, scrolling a long list.

import { h, uid } from "./dom";
import { fmtNumber } from "./format";

export interface CheckItem {
  key: string;
  label: string;
  checked: boolean;
  count?: number;
  /** Swatch or glyph in front of the label; rebuilt when `decorKey` changes. */
  decor?: () => Node;
  decorKey?: string;
  dimmed?: boolean;
}

interface Row {
  row: HTMLElement;
  input: HTMLInputElement;
  count: HTMLElement;
  decor: HTMLElement;
  decorKey?: string;
}

/** More items than this: only the rows in view are in the page. */
export const VIRTUAL_ITEMS = 100;
// A virtual row's height (px; .check-list.virtual .check-row) and the rows
// kept beyond each edge of the scroll box.
const ROW_HEIGHT = 24;
const OVERSCAN = 8;
// Rows painted before the scroll box has been laid out (its height unknown).
const FIRST_ROWS = 24;

export class CheckList {
  readonly el: HTMLElement;
  private readonly rows = new Map<string, Row>();
  private items: CheckItem[] = [];
  private readonly spacer = h("li", { class: "check-spacer", attrs: { "aria-hidden": "true" } });
  private virtual = false;

  constructor(
    label: string,
    private readonly onToggle: (key: string, checked: boolean) => void,
  ) {
    this.el = h("ul", { class: "check-list", attrs: { "aria-label": label } });
    this.el.addEventListener("scroll", () => this.virtual && this.paint(), { passive: true });
    this.el.addEventListener("keydown", (e) => this.onKey(e));
  }

  update(items: CheckItem[]): void {
    this.items = items;
    const virtual = items.length > VIRTUAL_ITEMS;
    if (virtual !== this.virtual) {
      this.virtual = virtual;
      this.el.classList.toggle("virtual", virtual);
      for (const r of this.rows.values()) r.row.remove();
      this.rows.clear();
      this.spacer.remove();
      if (virtual) this.el.append(this.spacer);
    }
    if (virtual) {
      this.spacer.style.height = `${items.length * ROW_HEIGHT}px`;
      this.paint();
      return;
    }
    const keep = new Set(items.map((i) => i.key));
    for (const [key, r] of this.rows) {
      if (!keep.has(key)) {
        r.row.remove();
        this.rows.delete(key);
      }
    }
    items.forEach((item, index) => {
      const r = this.rowOf(item);
      if (this.el.children[index] !== r.row) this.el.insertBefore(r.row, this.el.children[index] ?? null);
    });
  }

  /** The rows in the scroll box (and a few beyond): each at its place, every other row gone. */
  private paint(): void {
    const height = this.el.clientHeight;
    const top = this.el.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const shown = height ? Math.ceil(height / ROW_HEIGHT) : FIRST_ROWS;
    const last = Math.min(this.items.length, Math.floor(top / ROW_HEIGHT) + shown + OVERSCAN);
    const keep = new Set<string>();
    // In order after the spacer, so that Tab goes through them in order too.
    let next = this.spacer.nextSibling;
    for (let i = first; i < last; i++) {
      const item = this.items[i];
      keep.add(item.key);
      const r = this.rowOf(item);
      r.row.style.top = `${i * ROW_HEIGHT}px`;
      r.row.setAttribute("aria-posinset", String(i + 1));
      r.row.setAttribute("aria-setsize", String(this.items.length));
      if (r.row === next) next = next.nextSibling;
      else this.el.insertBefore(r.row, next);
    }
    for (const [key, r] of this.rows) {
      if (keep.has(key)) continue;
      // The focused row stays (off screen) until another takes the focus.
      if (r.row.contains(document.activeElement)) continue;
      r.row.remove();
      this.rows.delete(key);
    }
  }

  private rowOf(item: CheckItem): Row {
    let r = this.rows.get(item.key);
    if (!r) {
      const id = uid("check");
      const input = h("input", { attrs: { type: "checkbox", id } });
      const key = item.key;
      input.addEventListener("change", () => this.onToggle(key, input.checked));
      const decor = h("span", { class: "decor" });
      const count = h("span", { class: "count" });
      const row = h(
        "li",
        { class: "check-row", attrs: { "data-key": key } },
        input,
        h("label", { attrs: { for: id }, title: item.label }, decor, h("span", { class: "label-text", text: item.label })),
        count,
      );
      r = { row, input, count, decor };
      this.rows.set(key, r);
    }
    r.input.checked = item.checked;
    r.row.classList.toggle("dimmed", Boolean(item.dimmed));
    r.count.textContent = item.count == null ? "" : fmtNumber(item.count);
    if (item.decor && r.decorKey !== item.decorKey) {
      r.decor.replaceChildren(item.decor());
      r.decorKey = item.decorKey;
    }
    return r;
  }

  /** ↑ ↓ Home End from a row's checkbox: the focus moves to that row's (scrolled into view). */
  private onKey(e: KeyboardEvent): void {
    const target = e.target as HTMLElement;
    const key = target.closest<HTMLElement>(".check-row")?.dataset.key;
    if (key === undefined || target.tagName !== "INPUT") return;
    const index = this.items.findIndex((i) => i.key === key);
    const n = this.items.length;
    const moves: Record<string, number> = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: n - 1 };
    if (!(e.key in moves) || index < 0) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(n - 1, moves[e.key]));
    if (this.virtual) {
      const top = next * ROW_HEIGHT;
      const height = this.el.clientHeight;
      if (top < this.el.scrollTop) this.el.scrollTop = top;
      else if (top + ROW_HEIGHT > this.el.scrollTop + height) this.el.scrollTop = top + ROW_HEIGHT - height;
      this.paint();
    }
    this.rows.get(this.items[next].key)?.input.focus();
  }
}
