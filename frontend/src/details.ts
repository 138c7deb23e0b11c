// The details panel of the selected event, and the field list it shares
// with the hover tooltip. Every value is set as text.

import { button, h } from "./dom";
import { fmtDataValue, fmtDuration, fmtEpoch, fmtNumber, fmtWallTime } from "./format";
import type { Ev } from "./model";
import { glyph, type Shape } from "./shapes";

export interface EventLook {
  shape: Shape;
  kindColor: string;
  runColor: string;
  /** Seconds since the experiment's first event. */
  relative: number;
}

export function eventFields(ev: Ev, look: EventLook): Array<[string, Node | string]> {
  return [
    ["Run", h("span", { class: "run-ref" }, h("span", { class: "swatch", attrs: { style: `--swatch:${look.runColor}` } }), ev.run)],
    ...(ev.fit === undefined ? [] : ([["Fit", String(ev.fit)]] as Array<[string, string]>)),
    ["Step", fmtNumber(ev.step)],
    ["Epoch", fmtEpoch(ev.epoch)],
    ["Time", `${fmtWallTime(ev.wall_time)} (+${fmtDuration(look.relative)})`],
    ["Source", ev.source ?? "—"],
  ];
}

export function kindTitle(ev: Ev, look: EventLook, tag: "h2" | "strong" = "strong"): HTMLElement {
  return h(tag, { class: "kind-title" }, glyph(look.shape, look.kindColor, 14), h("span", { text: ev.kind }));
}

export function dataList(data: Record<string, unknown>, limit = Number.POSITIVE_INFINITY): HTMLElement | null {
  const keys = Object.keys(data);
  if (!keys.length) return null;
  const list = h("dl", { class: "data-list" });
  for (const key of keys.slice(0, limit)) {
    list.append(h("dt", { text: key }), h("dd", { text: fmtDataValue(data[key]) }));
  }
  if (keys.length > limit) list.append(h("dt", { text: "…" }), h("dd", { text: `${keys.length - limit} more` }));
  return list;
}

export interface DetailsCallbacks {
  close(): void;
  centre(ev: Ev): void;
  step(delta: number): void;
}

export class Details {
  readonly el: HTMLElement;

  constructor(private readonly callbacks: DetailsCallbacks) {
    this.el = h("aside", { class: "details", attrs: { "aria-label": "Event details", hidden: true } });
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") callbacks.close();
    });
  }

  /** `why`: the explanation's sentence (explain_view.ts `sentenceOf`) and the chart it is drawn on. */
  show(ev: Ev | null, look: EventLook | null, why: { sentence: string; drawnOn: string | null } | null = null): void {
    if (!ev || !look) {
      this.el.hidden = true;
      this.el.replaceChildren();
      return;
    }
    this.el.hidden = false;
    const fields = h("dl", { class: "fields" });
    for (const [label, value] of eventFields(ev, look)) fields.append(h("dt", { text: label }), h("dd", null, value));
    const data = dataList(ev.data);
    this.el.replaceChildren(
      h(
        "header",
        { class: "details-header" },
        kindTitle(ev, look, "h2"),
        h("span", { class: "spacer" }),
        button("×", () => this.callbacks.close(), {
          class: "icon-button",
          title: "Close (Esc)",
          attrs: { "aria-label": "Close event details" },
        }),
      ),
      h("p", { class: "details-message", text: ev.message || "(no message)" }),
      why ? h("h3", { class: "section-title", text: "Why" }) : "",
      why ? h("p", { class: "details-why", text: why.sentence }) : "",
      why?.drawnOn ? h("p", { class: "muted", text: `Drawn on the chart of ${why.drawnOn} when it is shown.` }) : "",
      fields,
      h("h3", { class: "section-title", text: "Data" }),
      data ?? h("p", { class: "muted", text: "No data." }),
      h(
        "div",
        { class: "details-actions" },
        button("◀ Previous", () => this.callbacks.step(-1), { class: "text-button", attrs: { "aria-label": "Previous event" } }),
        button("Centre charts", () => this.callbacks.centre(ev), { class: "text-button" }),
        button("Next ▶", () => this.callbacks.step(1), { class: "text-button", attrs: { "aria-label": "Next event" } }),
      ),
    );
  }
}
