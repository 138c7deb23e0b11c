// The run filter: one regular expression, compiled once per text, that the
// sidebar, the visible runs and the All/None buttons all use.

export interface RunFilter {
  /** null when the text is empty or invalid (an invalid filter hides nothing). */
  re: RegExp | null;
  error: string | null;
  test(run: string): boolean;
}

let last: { text: string; filter: RunFilter } | null = null;

export function runFilter(text: string): RunFilter {
  if (last?.text === text) return last.filter;
  let re: RegExp | null = null;
  let error: string | null = null;
  if (text) {
    try {
      re = new RegExp(text, "i");
    } catch (e) {
      error = (e as Error).message;
    }
  }
  const filter: RunFilter = { re, error, test: (run) => !re || re.test(run) };
  last = { text, filter };
  return filter;
}
