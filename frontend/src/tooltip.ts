// The hover tooltip of event markers.

import { h } from "./dom";
import { dataList, type EventLook, eventFields, kindTitle } from "./details";
import type { Ev } from "./model";

const MAX_DATA_ROWS = 8;

export class Tooltip {
  readonly el: HTMLElement;

  constructor() {
    this.el = h("div", { class: "tooltip", attrs: { role: "tooltip", hidden: true } });
  }

  show(events: Ev[], look: (ev: Ev) => EventLook, clientX: number, clientY: number): void {
    const ev = events[0];
    if (!ev) {
      this.hide();
      return;
    }
    const info = look(ev);
    const fields = h("dl", { class: "fields" });
    for (const [label, value] of eventFields(ev, info)) fields.append(h("dt", { text: label }), h("dd", null, value));
    this.el.replaceChildren(
      kindTitle(ev, info),
      ev.message ? h("p", { class: "tooltip-message", text: ev.message }) : "",
      fields,
      dataList(ev.data, MAX_DATA_ROWS) ?? "",
      events.length > 1
        ? h("p", { class: "muted", text: `+${events.length - 1} more event${events.length > 2 ? "s" : ""} here` })
        : "",
      h("p", { class: "hint", text: "Click for details" }),
    );
    this.el.hidden = false;
    // Beside the pointer, flipped so it stays inside the frame.
    const pad = 14;
    const { innerWidth, innerHeight } = window;
    const rect = this.el.getBoundingClientRect();
    let x = clientX + pad;
    let y = clientY + pad;
    if (x + rect.width > innerWidth - 4) x = Math.max(4, clientX - pad - rect.width);
    if (y + rect.height > innerHeight - 4) y = Math.max(4, clientY - pad - rect.height);
    this.el.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  hide(): void {
    if (!this.el.hidden) this.el.hidden = true;
  }
}
