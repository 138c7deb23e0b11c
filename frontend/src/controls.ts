// Small form controls of the toolbar.

import { button, h } from "./dom";

export interface Segmented<T extends string> {
  el: HTMLElement;
  set(value: T): void;
}

/** A row of radio buttons that reads as one segmented switch. */
export function segmented<T extends string>(
  name: string,
  label: string,
  options: ReadonlyArray<readonly [T, string]>,
  onChange: (value: T) => void,
): Segmented<T> {
  const inputs = new Map<T, HTMLInputElement>();
  const el = h("fieldset", { class: "segmented" }, h("legend", { class: "sr-only", text: label }));
  for (const [value, text] of options) {
    const input = h("input", { attrs: { type: "radio", name, value } });
    input.addEventListener("change", () => input.checked && onChange(value));
    inputs.set(value, input);
    el.append(h("label", { class: "segment", attrs: { "data-value": value } }, input, h("span", { text })));
  }
  return {
    el,
    set(value: T) {
      const input = inputs.get(value);
      if (input) input.checked = true;
    },
  };
}

/**
 * Which experiment the charts show when there are too many for one chart:
 * a select with previous/next, hidden otherwise.
 */
export class FocusBar {
  readonly el: HTMLElement;
  private readonly select = h("select", { class: "text-input focus-select", attrs: { "aria-label": "Experiment charted" } });
  private readonly info = h("span", { class: "muted" });
  private experiments: string[] = [];

  constructor(onChange: (experiment: string) => void) {
    this.select.addEventListener("change", () => onChange(this.select.value));
    const step = (delta: number) => {
      const n = this.experiments.length;
      const i = this.experiments.indexOf(this.select.value);
      if (n) onChange(this.experiments[(i + delta + n) % n]);
    };
    this.el = h(
      "div",
      { class: "focus-bar", attrs: { hidden: true } },
      h("span", { class: "toolbar-label", text: "Charts of" }),
      button("‹", () => step(-1), { class: "icon-button", title: "Previous experiment", attrs: { "aria-label": "Previous experiment" } }),
      this.select,
      button("›", () => step(1), { class: "icon-button", title: "Next experiment", attrs: { "aria-label": "Next experiment" } }),
      this.info,
    );
  }

  update(experiments: string[], focused: string | null): void {
    this.el.hidden = focused === null;
    if (focused === null) return;
    if (experiments.join("\u0000") !== this.experiments.join("\u0000")) {
      this.experiments = experiments;
      this.select.replaceChildren(...experiments.map((e) => h("option", { attrs: { value: e }, text: e })));
    }
    this.select.value = focused;
    this.info.textContent = `${experiments.indexOf(focused) + 1} of ${experiments.length} experiments (one at a time, so each chart stays readable)`;
  }
}
