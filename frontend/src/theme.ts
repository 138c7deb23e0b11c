// Dark mode follows TensorBoard's: its document (our same-origin parent)
// carries `body.dark-mode` whenever TensorBoard is dark, whether the user
// chose it or it follows the browser. Outside TensorBoard (or if the parent
// is not reachable) the browser's preference decides.

export type ThemeListener = (dark: boolean) => void;

function parentBody(): HTMLElement | null {
  try {
    if (window.parent === window) return null;
    return window.parent.document.body;
  } catch {
    return null; // cross-origin parent
  }
}

export function watchTheme(listener: ThemeListener): boolean {
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  const body = parentBody();
  const current = () => (body ? body.classList.contains("dark-mode") : Boolean(media?.matches));
  let dark = current();
  const update = () => {
    const next = current();
    if (next !== dark) {
      dark = next;
      listener(dark);
    }
  };
  if (body) new MutationObserver(update).observe(body, { attributes: true, attributeFilter: ["class"] });
  media?.addEventListener?.("change", update);
  return dark;
}
