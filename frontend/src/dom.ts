// Element construction that never parses HTML: every string becomes a text
// node or an attribute value, so text from event files cannot run as markup.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props) {
    if (props.class) node.className = props.class;
    if (props.title) node.title = props.title;
    if (props.attrs) setAttrs(node, props.attrs);
    if (props.text != null) node.textContent = props.text;
  }
  append(node, children);
  return node;
}

export function setAttrs(node: Element, attrs: Props["attrs"]): void {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value == null) node.removeAttribute(name);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child == null || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function button(label: string, onClick: () => void, props: Props = {}): HTMLButtonElement {
  const b = h("button", { ...props, attrs: { type: "button", ...props.attrs } }, label);
  b.addEventListener("click", onClick);
  return b;
}

let idCounter = 0;
export function uid(prefix: string): string {
  idCounter += 1;
  return `cbe-${prefix}-${idCounter}`;
}
