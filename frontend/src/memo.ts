// Derived values kept until their inputs change. Each input is part of a
// string key, so "what does this depend on" is written once, next to the
// computation, instead of in a hand-kept field per cache.

export class Memo<T> {
  private key: string | null = null;
  private value: T | undefined;

  /** The value computed for `parts`, recomputed only when a part changed. */
  get(parts: ReadonlyArray<unknown>, compute: () => T): T {
    const key = parts.map(String).join("\u0000");
    if (this.key !== key || this.value === undefined) {
      this.value = compute();
      this.key = key;
    }
    return this.value;
  }

  /** The last value computed, whatever its key. */
  peek(): T | undefined {
    return this.value;
  }

  /** Forget the value (a change the key does not capture, such as the theme's colours). */
  reset(): void {
    this.key = null;
    this.value = undefined;
  }
}
