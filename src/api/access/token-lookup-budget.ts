import { RateWindowCounts } from './shared-rate-limit';

const WINDOW_MS = 60_000;

/**
 * A token nobody has seen costs a database lookup before the rate limiter can count its request
 * (the limiter keys requests by token, so it needs to know whether the token is one). Unknown
 * tokens are remembered, but a client inventing a new one each time would cost a query per
 * request. Each client address gets `perMinute` failed lookups (the same number as its request
 * budget, which those requests count against too); past that, unverified tokens from it are
 * refused without a lookup until its window ends. Valid tokens never use the budget, and ones this
 * process knows (valid, or unknown a moment ago) never wait for it; a new valid token sharing an
 * address with such a client does, for the rest of the minute. Per process, like the lookups.
 */
export class TokenLookupBudget {
  private readonly failures = new RateWindowCounts({ maxKeys: 10_000 });

  constructor(private readonly options: { perMinute: number; now?: () => number }) {}

  /** 0 while the address may have its token looked up; otherwise how long until it may again. */
  retryAfterMs(address: string): number {
    const { current, ttl } = this.failures.read(address, WINDOW_MS, this.now());
    return current >= this.options.perMinute ? ttl : 0;
  }

  recordFailure(address: string): void {
    this.failures.increment(address, WINDOW_MS, this.now());
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
