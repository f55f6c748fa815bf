// A ring of values in insertion order, holding at most `capacity` of them. Storage grows by
// doubling up to the capacity, so a key that is called rarely costs little; a full ring either
// refuses a push (the rate limiter never pushes into a full ring) or overwrites its oldest value
// (`pushOverwrite`, the denial monitor).
export class Ring<T> {
  readonly capacity: number;
  #buffer: T[] = [];
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError("a ring's capacity must be a positive integer");
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** Storage currently allocated (at most `capacity`). */
  get allocated(): number {
    return this.#buffer.length;
  }

  /** The oldest value (first in), or undefined when empty. */
  oldest(): T | undefined {
    return this.#size === 0 ? undefined : this.#buffer[this.#head];
  }

  /** The newest value (last in), or undefined when empty. */
  newest(): T | undefined {
    if (this.#size === 0) return undefined;
    return this.#buffer[(this.#head + this.#size - 1) % this.#buffer.length];
  }

  /** Removes the oldest values while `expired(oldest)` holds. */
  dropWhile(expired: (value: T) => boolean): void {
    while (this.#size > 0) {
      const value = this.#buffer[this.#head] as T;
      if (!expired(value)) return;
      this.#head = (this.#head + 1) % this.#buffer.length;
      this.#size -= 1;
    }
    if (this.#size === 0) this.#head = 0;
  }

  /** Appends; throws when full (callers check `size < capacity` first). */
  push(value: T): void {
    if (this.#size >= this.capacity) throw new RangeError("ring is full");
    if (this.#size === this.#buffer.length) this.#grow();
    this.#buffer[(this.#head + this.#size) % this.#buffer.length] = value;
    this.#size += 1;
  }

  /** Appends, dropping the oldest value when full. */
  pushOverwrite(value: T): void {
    if (this.#size < this.capacity) {
      this.push(value);
      return;
    }
    this.#buffer[this.#head] = value;
    this.#head = (this.#head + 1) % this.#buffer.length;
  }

  /** Values, oldest first. */
  values(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i += 1) {
      out.push(this.#buffer[(this.#head + i) % this.#buffer.length] as T);
    }
    return out;
  }

  clear(): void {
    this.#buffer = [];
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const values = this.values();
    const length = Math.min(this.capacity, Math.max(4, values.length * 2));
    this.#buffer = values;
    this.#buffer.length = length;
    this.#head = 0;
  }
}
