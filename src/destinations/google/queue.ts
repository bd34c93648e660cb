/**
 * One upload at a time per list, in this process: Google refuses a second offline user data job
 * on a list while one runs (`CONCURRENT_MODIFICATION`), and interleaved add / remove requests on
 * one list would make the outcome order-dependent. Module-level, so two destination instances
 * for the same list (two runs of one sync, or two syncs to one list) queue behind each other.
 * Other processes are not covered: their collisions surface as CONCURRENT_MODIFICATION, which is
 * classified retryable.
 */
const tails = new Map<string, Promise<void>>();

export async function serializePerList<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  tails.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
