/**
 * A per-key async mutex, owned by one store instance (no module-level state): calls with the same
 * key run one after the other, in call order; calls with different keys run concurrently.
 * It serialises work inside one process only; the stores add their own cross-process guard.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with a call running or waiting (for tests and metrics). */
  get size(): number {
    return this.#tails.size;
  }
}
