// The tab as a self-contained report (`tb-callbacks report`): the answers of
// the plugin's routes are inlined in the page as JSON, in a
// <script type="application/json" id="tb-callbacks-report"> element, and are
// answered from there instead of fetched. Without that element (the tab
// inside TensorBoard) nothing here is used.

import type { EventsResponse, RunSummary, ScalarSeries } from "./api";

const ELEMENT_ID = "tb-callbacks-report";

export interface ReportData {
  title?: string;
  runs: { runs: RunSummary[] };
  events: Record<string, EventsResponse>;
  scalars: Record<string, Record<string, ScalarSeries>>;
}

let cached: ReportData | null | undefined;

/** The inlined data when this page is a report, else null. */
export function reportData(): ReportData | null {
  if (cached === undefined) {
    const el = document.getElementById(ELEMENT_ID);
    cached = el instanceof HTMLScriptElement && el.type === "application/json" ? (JSON.parse(el.text) as ReportData) : null;
  }
  return cached;
}

/** What a route would answer, from the report: [status, body]. */
export function answerFromReport(data: ReportData, route: string, params: Array<[string, string]>): [number, unknown] {
  const param = (name: string) => params.find(([k]) => k === name)?.[1] ?? "";
  if (route === "runs") return [200, data.runs];
  if (route === "events") {
    const found = Object.prototype.hasOwnProperty.call(data.events, param("run")) ? data.events[param("run")] : undefined;
    return found ? [200, found] : [404, { error: `run ${JSON.stringify(param("run"))} is not in this report` }];
  }
  if (route === "scalars") {
    const runs = Object.prototype.hasOwnProperty.call(data.scalars, param("run")) ? data.scalars[param("run")] : undefined;
    const series = runs && Object.prototype.hasOwnProperty.call(runs, param("tag")) ? runs[param("tag")] : undefined;
    return series ? [200, series] : [404, { error: `series ${param("run")}/${param("tag")} is not in this report` }];
  }
  return [404, { error: `no route ${route} in a report` }];
}
