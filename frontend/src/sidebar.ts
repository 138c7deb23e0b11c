// The left column: runs (TensorBoard colours, regex filter, all/none),
// event kinds with counts, and the metric tags to chart.

import { CheckList } from "./checklist";
import { button, h, uid } from "./dom";

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
