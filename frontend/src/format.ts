// Number, time and data formatting for labels, tooltips and the table.

// One formatter for all: `toLocaleString` builds a new one per call.
const INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function fmtNumber(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value; // "NaN", "Infinity" from the routes
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return INTEGER.format(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return trimExp(value.toExponential(3));
  return String(Number.parseFloat(value.toPrecision(5)));
}

/**
 * An event's epoch (0-based, as its `epoch` field and TensorBoard's epoch
 * axis) as people read it beside Keras's console: counted from 1, so the
 * early_stop of "Epoch 17: early stopping" shows 17, as its message says.
 */
export function fmtEpoch(epoch: number | null | undefined): string {
  return epoch == null ? "—" : fmtNumber(epoch + 1);
}

function trimExp(text: string): string {
  return text.replace(/\.?0+e/, "e").replace("e+", "e");
}

/** Axis tick text: short, and exponent form only when needed. */
export function fmtTick(value: number, range: number): string {
  if (!Number.isFinite(value)) return "";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3 || range < 1e-3)) return trimExp(value.toExponential(2));
  if (Math.abs(value) >= 1000 && Number.isInteger(value)) return value.toLocaleString("en-US");
  return String(Number.parseFloat(value.toPrecision(6)));
}

/** "1h 02m", "3m 05s", "12.4s". */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  const sign = seconds < 0 ? "-" : "";
  let s = Math.abs(seconds);
  if (s < 60) return `${sign}${s < 10 ? s.toFixed(2) : s.toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s = Math.floor(s - m * 60);
  if (h > 0) return `${sign}${h}h ${String(m).padStart(2, "0")}m`;
  return `${sign}${m}m ${String(s).padStart(2, "0")}s`;
}

/** Tick text for the relative-time axis. */
export function fmtDurationTick(seconds: number, range: number): string {
  const s = Math.abs(seconds);
  const sign = seconds < 0 ? "-" : "";
  if (range >= 7200) return `${sign}${(s / 3600).toFixed(s % 3600 === 0 ? 0 : 1)}h`;
  if (range >= 180) {
    const m = Math.floor(s / 60);
    const rest = Math.round(s - m * 60);
    return rest ? `${sign}${m}m${String(rest).padStart(2, "0")}s` : `${sign}${m}m`;
  }
  return `${sign}${Number.parseFloat(s.toPrecision(4))}s`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Local date and time of a wall time in seconds. */
export function fmtWallTime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "—";
  const d = new Date(seconds * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** One line of event data for the table: `key=value` pairs. */
export function fmtDataInline(data: unknown): string {
  if (!data || typeof data !== "object") return "";
  const parts: string[] = [];
  let length = 0;
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    let text: string;
    if (typeof value === "number") text = fmtNumber(value);
    else if (typeof value === "string") text = value;
    else {
      try {
        text = JSON.stringify(value);
      } catch {
        text = String(value);
      }
    }
    const part = `${key}=${text}`;
    parts.push(part);
    length += part.length + 2;
    if (length > 300) break;
  }
  const line = parts.join(", ");
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** Indented JSON of a data value for the details panel. */
export function fmtDataValue(value: unknown): string {
  if (typeof value === "number") return fmtNumber(value);
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}
