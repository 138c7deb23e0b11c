// Small form controls of the toolbar.

import { h } from "./dom";

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
