// The left column: runs (TensorBoard colours, regex filter, all/none),
// event kinds with counts, and the metric tags to chart.

import { button, h, uid } from "./dom";
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

/** A keyed list of checkboxes updated in place, so focus survives reloads. */
export class CheckList {
  readonly el: HTMLElement;
  private readonly rows = new Map<string, { row: HTMLElement; input: HTMLInputElement; count: HTMLElement; decor: HTMLElement; decorKey?: string }>();

  constructor(
    label: string,
    private readonly onToggle: (key: string, checked: boolean) => void,
  ) {
    this.el = h("ul", { class: "check-list", attrs: { "aria-label": label } });
  }

  update(items: CheckItem[]): void {
    const keep = new Set(items.map((i) => i.key));
    for (const [key, r] of this.rows) {
      if (!keep.has(key)) {
        r.row.remove();
        this.rows.delete(key);
      }
    }
    items.forEach((item, index) => {
      let r = this.rows.get(item.key);
      if (!r) {
        const id = uid("check");
        const input = h("input", { attrs: { type: "checkbox", id } });
        input.addEventListener("change", () => this.onToggle(item.key, input.checked));
        const decor = h("span", { class: "decor" });
        const count = h("span", { class: "count" });
        const row = h(
          "li",
          { class: "check-row" },
          input,
          h("label", { attrs: { for: id }, title: item.label }, decor, h("span", { class: "label-text", text: item.label })),
          count,
        );
        r = { row, input, count, decor };
        this.rows.set(item.key, r);
      }
      r.input.checked = item.checked;
      r.row.classList.toggle("dimmed", Boolean(item.dimmed));
      r.count.textContent = item.count == null ? "" : fmtNumber(item.count);
      if (item.decor && r.decorKey !== item.decorKey) {
        r.decor.replaceChildren(item.decor());
        r.decorKey = item.decorKey;
      }
      if (this.el.children[index] !== r.row) this.el.insertBefore(r.row, this.el.children[index] ?? null);
    });
  }
}

export interface SidebarCallbacks {
  runFilter(text: string): void;
  allRuns(on: boolean): void;
  toggleRun(run: string, on: boolean): void;
  allKinds(on: boolean): void;
  toggleKind(kind: string, on: boolean): void;
  toggleTag(tag: string, on: boolean): void;
  resetTags(): void;
}

function section(title: string, countEl: HTMLElement, ...body: Node[]): HTMLElement {
  const id = uid("section");
  return h(
    "section",
    { class: "side-section", attrs: { "aria-labelledby": id } },
    h("header", { class: "side-header" }, h("h2", { attrs: { id }, text: title }), countEl),
    ...body,
  );
}

export class Sidebar {
  readonly el: HTMLElement;
  readonly runs: CheckList;
  readonly kinds: CheckList;
  readonly tags: CheckList;
  private readonly runFilter: HTMLInputElement;
  private readonly runFilterError: HTMLElement;
  private readonly runCount = h("span", { class: "muted" });
  private readonly kindCount = h("span", { class: "muted" });
  private readonly tagCount = h("span", { class: "muted" });
  private readonly tagsEmpty = h("p", { class: "muted small" });

  constructor(cb: SidebarCallbacks) {
    this.runs = new CheckList("Runs", cb.toggleRun);
    this.kinds = new CheckList("Event kinds", cb.toggleKind);
    this.tags = new CheckList("Metrics", cb.toggleTag);
    this.runFilter = h("input", {
      class: "text-input",
      attrs: {
        type: "search",
        placeholder: "Filter runs (regex)",
        "aria-label": "Filter runs by regular expression",
        spellcheck: "false",
      },
    });
    this.runFilter.addEventListener("input", () => cb.runFilter(this.runFilter.value));
    this.runFilterError = h("p", { class: "field-error", attrs: { role: "alert", hidden: true } });
    this.el = h(
      "nav",
      { class: "sidebar", attrs: { "aria-label": "Runs, event kinds and metrics" } },
      section(
        "Runs",
        this.runCount,
        this.runFilter,
        this.runFilterError,
        h(
          "div",
          { class: "button-row" },
          button("All", () => cb.allRuns(true), { class: "text-button", attrs: { "aria-label": "Select all runs shown" } }),
          button("None", () => cb.allRuns(false), { class: "text-button", attrs: { "aria-label": "Deselect all runs shown" } }),
        ),
        this.runs.el,
      ),
      section(
        "Event kinds",
        this.kindCount,
        h(
          "div",
          { class: "button-row" },
          button("All", () => cb.allKinds(true), { class: "text-button", attrs: { "aria-label": "Select all event kinds" } }),
          button("None", () => cb.allKinds(false), { class: "text-button", attrs: { "aria-label": "Deselect all event kinds" } }),
        ),
        this.kinds.el,
      ),
      section(
        "Metrics",
        this.tagCount,
        h(
          "div",
          { class: "button-row" },
          button("Defaults", () => cb.resetTags(), { class: "text-button", attrs: { "aria-label": "Chart the default metrics" } }),
        ),
        this.tags.el,
        this.tagsEmpty,
      ),
    );
  }

  setCounts(runs: string, kinds: string, tags: string): void {
    this.runCount.textContent = runs;
    this.kindCount.textContent = kinds;
    this.tagCount.textContent = tags;
  }

  setRunFilter(text: string, error: string | null): void {
    if (this.runFilter.value !== text) this.runFilter.value = text;
    this.runFilter.classList.toggle("invalid", Boolean(error));
    this.runFilter.setAttribute("aria-invalid", String(Boolean(error)));
    this.runFilterError.hidden = !error;
    this.runFilterError.textContent = error ? `Invalid regular expression: ${error}` : "";
  }

  setTagsHint(text: string): void {
    this.tagsEmpty.textContent = text;
    this.tagsEmpty.hidden = !text;
  }
}
