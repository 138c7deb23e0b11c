// The plugin's HTTP routes (docs/routes.md) and their JSON types. Paths are
// relative to the document's base (`plugin/callback_events/`), which
// TensorBoard's plugin_entry.html sets. In a report the answers come from
// the page itself (report_data.ts).

import { answerFromReport, reportData } from "./report_data";

export interface RunSummary {
  run: string;
  count: number;
  kinds: Record<string, number>;
  warnings?: string[];
  /** The run's `tags` answer: the scalar tags of it and its siblings. */
  scalar_tags: Record<string, string[]>;
  /** The experiment the run belongs to (the plugin's one rule for grouping runs). */
  experiment: string;
  /** What a search's table shows of the run (`runs?digest=1`); absent in a report. */
  digest?: RunDigest;
}

/** An ending: [wall time, ending, epoch as Keras's console counts it (from 1) or null]. */
export type DigestEnding = [number, string, number | null];

/** The run's facts for a search's table, from its events (docs/routes.md, `runs`). */
export interface RunDigest {
  /** Its last train_end; its last early stop or NaN termination. */
  end: DigestEnding | null;
  stop: DigestEnding | null;
  lr_changes: number;
  checkpoints: number;
  /** Wall times of its first and last event (null: none has one). */
  first: number | null;
  last: number | null;
  /** Events drawn on the sparkline: [epoch (0-based), kind]. */
  ticks: Array<[number, string]>;
}

export interface CallbackEvent {
  kind: string;
  step: number;
  epoch: number | null;
  wall_time: number;
  source: string | null;
  message: string;
  data: Record<string, unknown>;
  /** Which writer wrote it (one per fit and run), when the server knows: an opaque key. */
  writer?: string;
}

export interface EventsResponse {
  run: string;
  events: CallbackEvent[];
  warnings?: string[];
}

export interface ScalarSeries {
  run: string;
  tag: string;
  total: number;
  step: number[];
  wall_time: number[];
  value: Array<number | null>;
  x: "epoch" | "step";
  global_step: Array<number | null> | null;
  nonfinite?: unknown;
  /** Each point's fit, where the report read it from the point's event file (TensorBoard's series carry no file). */
  fit?: Array<number | null>;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// Browsers open about six connections per host; more parallel requests only
// queue in the browser while starving TensorBoard's own. Ours queue here,
// where metric series, asked for after every run's events, need not wait
// behind all of them.
const MAX_PARALLEL = 6;
let active = 0;
const waiting: Array<Array<() => void>> = [[], []];

export type Priority = 0 | 1;

async function limited<T>(priority: Priority, fn: () => Promise<T>): Promise<T> {
  if (active >= MAX_PARALLEL) await new Promise<void>((resolve) => waiting[priority].push(resolve));
  active += 1;
  try {
    return await fn();
  } finally {
    active -= 1;
    (waiting[0].shift() ?? waiting[1].shift())?.();
  }
}

async function getJson<T>(route: string, params: Array<[string, string]> = [], priority: Priority = 0): Promise<T> {
  const report = reportData();
  if (report) {
    const [status, body] = answerFromReport(report, route, params);
    if (status !== 200) throw new ApiError((body as { error: string }).error, status);
    return body as T;
  }
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  const url = query ? `${route}?${query}` : route;
  return limited(priority, async () => {
    let response: Response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (e) {
      throw new ApiError(`TensorBoard is not reachable (${(e as Error).message})`, 0);
    }
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // fall through: a non-JSON answer is reported below
    }
    if (!response.ok) {
      const reason =
        body && typeof body === "object" && typeof (body as { error?: unknown }).error === "string"
          ? (body as { error: string }).error
          : `HTTP ${response.status} ${response.statusText}`;
      throw new ApiError(reason, response.status);
    }
    if (body === null || typeof body !== "object") throw new ApiError(`${route}: the answer is not JSON`, response.status);
    // When each answer was in and parsed (bench/search.py reads these marks).
    performance.mark(`cbe:parsed:${route}`);
    return body as T;
  });
}

/** The runs listing, with each run's digest for a search's table. */
export function fetchRuns(): Promise<{ runs: RunSummary[] }> {
  return getJson("runs", [["digest", "1"]]);
}

export function fetchEvents(run: string): Promise<EventsResponse> {
  return getJson("events", [["run", run]], 1);
}

export function fetchScalars(run: string, tag: string): Promise<ScalarSeries> {
  return getJson("scalars", [
    ["run", run],
    ["tag", tag],
  ]);
}

/** Runs one `many_events` request asks for at most (the route takes 200 `run` parameters). */
export const MANY_EVENTS_RUNS = 150;

/** The `events` answers of `runs` (at most MANY_EVENTS_RUNS), or of every run, in one request. */
export function fetchManyEvents(runs: string[] | null = null): Promise<{ runs: EventsResponse[] }> {
  return getJson(
    "many_events",
    (runs ?? []).map((run): [string, string] => ["run", run]),
    1,
  );
}

export interface ManySeries {
  run: string;
  total: number;
  step: number[];
  /** Null: asked for without wall times (`wall_time=0`). */
  wall_time: Array<number | null> | null;
  value: Array<number | null>;
  nonfinite: Array<string | null> | null;
}

/** Tag `tag` of every run that has it, each reduced to at most `points` points, without wall times. */
export function fetchManyScalars(tag: string, points: number): Promise<{ tag: string; x: "epoch" | "step"; series: ManySeries[] }> {
  return getJson("many_scalars", [
    ["tag", tag],
    ["points", String(points)],
    ["wall_time", "0"],
  ]);
}

export type HparamValue = number | string | boolean | null;

/** Each experiment's hyperparameters (TensorBoard's HParams data). */
export function fetchHparams(): Promise<{ experiments: Record<string, Record<string, HparamValue>> }> {
  return getJson("hparams");
}
