// The tab's messages that are not charts: the banners above the charts
// (reload and per-run failures, reader warnings) and the whole-tab empty
// and error states.

import { button, h } from "./dom";
import type { DataStore } from "./model";

export function banners(data: DataStore, visibleRuns: string[], reloadError: string | null): HTMLElement[] {
  const items: HTMLElement[] = [];
  if (reloadError) items.push(h("p", { class: "banner error", attrs: { role: "alert" }, text: reloadError }));
  for (const run of visibleRuns) {
    const err = data.eventErrors.get(run);
    if (err) items.push(h("p", { class: "banner error", attrs: { role: "alert" }, text: `Events of ${run} could not be loaded: ${err}` }));
    for (const w of data.warnings.get(run) ?? []) items.push(h("p", { class: "banner warning", text: `${run}: ${w}` }));
  }
  return items;
}

/** What the empty-state card says, or null when there are runs to show. */
export function emptyState(data: DataStore, retry: () => void): Node[] | null {
  if (data.runsError && !data.runs.length) {
    return [
      h("h2", { text: "Could not load callback events" }),
      h("p", { class: "error-text", text: data.runsError }),
      button("Retry", retry, { class: "text-button primary" }),
    ];
  }
  if (!data.loadedOnce) return [h("p", { class: "muted", text: "Loading callback events…" })];
  if (!data.runs.length) {
    return [
      h("h2", { text: "No callback events yet" }),
      h(
        "p",
        null,
        "Pass ",
        h("code", { text: "callbacks.TensorBoard(log_dir=…)" }),
        " to ",
        h("code", { text: "model.fit(callbacks=[…])" }),
        " (or write events with ",
        h("code", { text: "tb_callbacks_plugin.EventWriter" }),
        "); what your callbacks do then shows up here, next to the metrics.",
      ),
    ];
  }
  return null;
}
