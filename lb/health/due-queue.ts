// Items by the time they are due, earliest first: a binary min-heap, so thousands of health-check targets share one
// timer (armed for the earliest) instead of holding one each. Pure.

export class DueQueue<T> {
  readonly #items: T[] = [];
  readonly #due: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** When the earliest item is due; undefined when empty. */
  peekDue(): number | undefined {
    return this.#due[0];
  }

  push(item: T, due: number): void {
    let i = this.#items.length;
    this.#items.push(item);
    this.#due.push(due);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#due[parent]! <= due) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#items[i] = item;
    this.#due[i] = due;
  }

  /** Removes and returns the earliest item (of those due at the same time, any one). */
  pop(): T | undefined {
    const n = this.#items.length;
    if (n === 0) return undefined;
    const top = this.#items[0]!;
    const lastItem = this.#items.pop()!;
    const lastDue = this.#due.pop()!;
    if (n > 1) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n - 1) break;
        if (child + 1 < n - 1 && this.#due[child + 1]! < this.#due[child]!) child++;
        if (this.#due[child]! >= lastDue) break;
        this.#move(child, i);
        i = child;
      }
      this.#items[i] = lastItem;
      this.#due[i] = lastDue;
    }
    return top;
  }

  clear(): void {
    this.#items.length = 0;
    this.#due.length = 0;
  }

  #move(from: number, to: number): void {
    this.#items[to] = this.#items[from]!;
    this.#due[to] = this.#due[from]!;
  }
}
