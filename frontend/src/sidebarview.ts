// What the sidebar lists for a view: runs with their colours and counts,
// the event kinds with their glyphs, the metric tags.

import { kindStyle, runColor } from "./colors";
import { h } from "./dom";
import { fmtNumber } from "./format";
import type { DataStore, View } from "./model";
import { runFilter } from "./runfilter";
import { glyph } from "./shapes";
import type { Sidebar } from "./sidebar";
import type { State } from "./state";

/** `listed`: the runs the tab shows (a search's: every trial in its table, drawn or not). */
export function showSidebar(sidebar: Sidebar, view: View, state: State, data: DataStore, dark: boolean, listed: string[]): true {
  sidebar.setRunFilter(state.runFilter, view.runFilterError);
  const visible = new Set(listed);
  const filter = runFilter(state.runFilter);
  sidebar.runs.update(
    data.runs
      .filter((r) => filter.test(r.run))
      .map((r) => {
        const color = runColor(data.colorSlot(r.run), dark);
        return {
          key: r.run,
          label: r.run,
          checked: !state.hiddenRuns.has(r.run),
          count: r.count,
          dimmed: !visible.has(r.run),
          decorKey: color,
          decor: () => h("span", { class: "swatch", attrs: { style: `--swatch:${color}` } }),
        };
      }),
  );
  sidebar.kinds.update(
    view.allKinds.map((kind) => {
      const style = kindStyle(kind, dark);
      return {
        key: kind,
        label: kind,
        checked: !state.hiddenKinds.has(kind),
        count: view.kindCounts.get(kind) ?? 0,
        decorKey: `${style.shape}${style.color}`,
        decor: () => glyph(style.shape, style.color, 12),
      };
    }),
  );
  const charted = new Set(view.charts.map((c) => c.tag));
  sidebar.tags.update(view.availableTags.map((tag) => ({ key: tag, label: tag, checked: charted.has(tag) })));
  sidebar.setTagsHint(view.availableTags.length ? "" : view.visibleRuns.length ? "No scalar metrics in the selected runs." : "");
  const shownEvents = listed.reduce((n, run) => n + (data.runs[data.runIndex.get(run) ?? -1]?.count ?? 0), 0);
  sidebar.setCounts(
    `${fmtNumber(listed.length)} of ${fmtNumber(data.runs.length)}`,
    `${fmtNumber(shownEvents)} events`,
    `${charted.size} of ${view.availableTags.length}`,
  );
  return true;
}
