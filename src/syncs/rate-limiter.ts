/**
 * A token bucket: at most `perSecond` acquisitions per second on average, bursts up to `burst`.
 * One per ad account, shared by every run of this process that talks to it.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly perSecond: number, private readonly burst: number = Math.max(1, Math.ceil(perSecond))) {
    this.tokens = this.burst;
  }

  acquire(): Promise<void> {
    // Serialized, so waiters are served in order.
    const turn = this.queue.then(() => this.take());
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async take(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.tokens) / this.perSecond) * 1000)));
    }
  }
}

const limiters = new Map<string, RateLimiter>();

/** The limiter of an account (destination), created on first use. */
export function limiterFor(account: string, perSecond: number): RateLimiter {
  let limiter = limiters.get(account);
  if (!limiter) {
    limiter = new RateLimiter(perSecond);
    limiters.set(account, limiter);
  }
  return limiter;
}
