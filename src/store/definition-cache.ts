/**
 * Reads of definitions (segments, models) kept in memory: they change rarely and are read on
 * every list and get. Correct across processes only while something tells it about every change
 * (see definition-change-listener.ts); until then, and whenever that link is down, it is off and
 * every read goes to the database.
 */
export class DefinitionCache {
  private entries = new Map<string, unknown>();
  private generation = 0;
  private enabled = false;

  constructor(private readonly options: { maxEntries?: number } = {}) {}

  /** The cached value, or `load()` stored unless a change arrived while it ran. Values are frozen: callers share them. */
  async read<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (!this.enabled) return load();
    if (this.entries.has(key)) return this.entries.get(key) as T;
    const generation = this.generation;
    const value = await load();
    if (this.enabled && generation === this.generation) {
      if (this.entries.size >= (this.options.maxEntries ?? 1_000)) this.entries.clear();
      this.entries.set(key, deepFreeze(value));
    }
    return value;
  }

  /** Something changed (here, or in another process): forget everything, and anything being loaded. */
  invalidate(): void {
    this.generation++;
    this.entries.clear();
  }

  /** On while changes are being heard; off (and empty) while they might be missed. */
  setEnabled(enabled: boolean): void {
    this.invalidate();
    this.enabled = enabled;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
