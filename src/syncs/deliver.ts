import type { Destination, IdentifierKind, PreparedMember, ConsentStatus } from '../destinations/destination';
import { DestinationError } from '../destinations/destination';
import { prepareMember, type IdentityPlatform } from '../destinations/identity';
import type { RateLimiter } from './rate-limiter';

/** One row of a plan phase as read from the warehouse: raw mapped columns. */
export interface PlanRow {
  op: string;
  member_key: string;
  [column: string]: unknown;
}

export type Phase = 'remove' | 'add';

export interface RetryPolicy {
  /** Tries per batch, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A platform asking for a longer pause than this stops the run (the next run resumes). */
  maxRetryAfterMs: number;
}

export interface RowRejectionRecord { memberKey: string; op: string; phase: Phase; reason: string; detail?: string }

export interface DeliveryCounts {
  /** Member rows sent in requests the platform accepted (a change counts in both phases). */
  sent: number;
  /** Rows the platform acknowledged as received and valid. */
  confirmed: number;
  /** Rows refused: by us (no usable identifier) or by the platform (invalid entries). */
  rejected: number;
  /** Rows in batches that could not be delivered. */
  failedRows: number;
  requests: number;
  retries: number;
  /** Identifier values we could not normalize, by reason (the member may still have been sent). */
  identifierRejections: Record<string, number>;
}

export interface DeliveryInput {
  destination: Destination;
  audience: { remoteId: string };
  /** Whose normalization rules apply. */
  identity: IdentityPlatform;
  /** Plan columns → identifier kinds (consent columns are read separately). */
  kinds: Array<{ column: string; kind: IdentifierKind }>;
  consent?: { adUserDataColumn?: string; adPersonalizationColumn?: string; default: { adUserData: ConsentStatus; adPersonalization: ConsentStatus } };
  defaultRegion: string;
  sessionId: string;
  retry: RetryPolicy;
  limiter: RateLimiter;
  readPage(phase: Phase, after: { op: string; key: string } | undefined, limit: number): Promise<PlanRow[]>;
  markDelivered(phase: Phase, first: { op: string; key: string }, last: { op: string; key: string }): Promise<void>;
  recordRejections(rows: RowRejectionRecord[]): Promise<void>;
  /** Add-phase rows settled without reaching the platform. */
  markUnsent(memberKeys: string[]): Promise<void>;
  /** Totals per phase, for the platform's session bookkeeping. */
  estimatedTotal: Record<Phase, number>;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  onProgress?: (counts: DeliveryCounts) => void;
  /** Told what happens to each batch (logs, metrics). */
  observer?: DeliveryObserver;
}

/** Batch events, in counts only: no member, identifier or payload ever reaches an observer. */
export interface DeliveryObserver {
  batchDelivered?(event: { phase: Phase; batchSeq: number; rows: number; confirmed: number; rejected: number; attempts: number; durationMs: number }): void;
  /** Rows refused, by reason: by us (no usable identifier) or by the platform (invalid entries). */
  rowsRejected?(event: { phase: Phase; reason: string; count: number; by: 'us' | 'platform' }): void;
  /** A request failed; `retryInMs` is null when the batch is not retried (permanent, too long a wait, out of attempts). */
  batchFailed?(event: { phase: Phase; batchSeq: number; attempt: number; error: DestinationError; retryInMs: number | null }): void;
}

interface PreparedPage { page: PlanRow[]; members: PreparedMember[]; rejections: RowRejectionRecord[] }

export interface DeliveryOutcome {
  counts: DeliveryCounts;
  /** Set when sending stopped early: a permanent platform error, a long rate limit, or a stop request. */
  stopped?: { reason: string; failure: DestinationError['failure'] | 'stopped' };
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with equal jitter, never shorter than what the platform asked for. */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.max(retryAfterMs ?? 0, Math.round(exp / 2 + (exp / 2) * random()));
}

function tally(reasons: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const reason of reasons) out.set(reason, (out.get(reason) ?? 0) + 1);
  return out;
}

const asConsent = (value: unknown, fallback: ConsentStatus): ConsentStatus => {
  if (value === null || value === undefined || value === '') return fallback;
  return ['true', 't', '1', 'yes', 'granted'].includes(String(value).toLowerCase()) ? 'GRANTED' : 'DENIED';
};

/**
 * Sends one run's plan: the remove phase, then the add phase (a changed member's old identifiers
 * go before its new ones, so a shared identifier is not removed after being added). Pages are
 * normalized and hashed here, batched to the platform's size, sent with bounded concurrency under
 * the account's rate limit, retried with backoff; each delivered page is marked in the plan so
 * the commit moves the state by what was delivered only.
 */
export async function deliverPlan(input: DeliveryInput, options: { phases: Phase[] }): Promise<DeliveryOutcome> {
  const counts: DeliveryCounts = { sent: 0, confirmed: 0, rejected: 0, failedRows: 0, requests: 0, retries: 0, identifierRejections: {} };
  const sleep = input.sleep ?? defaultSleep;
  const { limits } = input.destination;
  let stopped: DeliveryOutcome['stopped'];

  for (const phase of options.phases) {
    if (stopped) break;
    let after: { op: string; key: string } | undefined;
    let exhausted = false;
    let batchSeq = 0;
    const inFlight = new Set<Promise<void>>();
    // The next page with something to send; pages with nothing sendable are settled on the way.
    const nextPrepared = async (): Promise<PreparedPage | null> => {
      while (!exhausted) {
        const page = await input.readPage(phase, after, limits.maxBatchSize);
        if (page.length < limits.maxBatchSize) exhausted = true;
        if (!page.length) return null;
        const last = page[page.length - 1]!;
        after = { op: last.op, key: last.member_key };
        const prepared = preparePage(phase, page);
        if (prepared.members.length) return prepared;
        await settle(phase, prepared);
      }
      return null;
    };
    let current = await nextPrepared();
    while (current && !stopped) {
      if (input.signal?.aborted) { stopped = { reason: 'the run was stopped before it finished sending', failure: 'stopped' }; break; }
      // Look ahead: the platform closes a session with its last batch, which must be one with members.
      const lookahead = await nextPrepared();
      const isLast = lookahead === null;
      batchSeq += 1;
      // The last batch goes after the others have landed.
      if (isLast) await Promise.all(inFlight);
      while (inFlight.size >= limits.maxConcurrency) await Promise.race(inFlight);
      if (stopped) break;
      const page = current;
      const seq = batchSeq;
      const task = sendPage(phase, page, seq, isLast).finally(() => inFlight.delete(task));
      inFlight.add(task);
      current = lookahead;
    }
    await Promise.all(inFlight);
  }
  return { counts, ...(stopped ? { stopped } : {}) };

  function preparePage(phase: Phase, page: PlanRow[]): PreparedPage {
    const members: PreparedMember[] = [];
    const rejections: RowRejectionRecord[] = [];
    for (const row of page) {
      const identifiers: Partial<Record<IdentifierKind, string | null>> = {};
      for (const { column, kind } of input.kinds) identifiers[kind] = row[column] === null || row[column] === undefined ? null : String(row[column]);
      const prepared = prepareMember(input.identity, row.member_key, identifiers, { defaultRegion: input.defaultRegion });
      for (const r of prepared.rejected) counts.identifierRejections[r.reason] = (counts.identifierRejections[r.reason] ?? 0) + 1;
      if (!prepared.ok) {
        rejections.push({ memberKey: row.member_key, op: row.op, phase, reason: prepared.reason, detail: prepared.rejected.map((r) => `${r.kind}: ${r.reason}`).join(', ') || 'no identifier values' });
        continue;
      }
      if (input.consent && input.identity === 'google') {
        const c = input.consent;
        prepared.member.consent = {
          adUserData: c.adUserDataColumn ? asConsent(row[c.adUserDataColumn], c.default.adUserData) : c.default.adUserData,
          adPersonalization: c.adPersonalizationColumn ? asConsent(row[c.adPersonalizationColumn], c.default.adPersonalization) : c.default.adPersonalization,
        };
      }
      members.push(prepared.member);
    }
    counts.rejected += rejections.length;
    for (const [reason, count] of tally(rejections.map((r) => r.reason))) input.observer?.rowsRejected?.({ phase, reason, count, by: 'us' });
    return { page, members, rejections };
  }

  /** Rows we or the platform refused are settled too: re-sending them would be refused again. */
  async function settle(phase: Phase, prepared: PreparedPage): Promise<void> {
    const first = prepared.page[0]!;
    const last = prepared.page[prepared.page.length - 1]!;
    if (prepared.rejections.length) {
      await input.recordRejections(prepared.rejections);
      if (phase === 'add') await input.markUnsent(prepared.rejections.map((r) => r.memberKey));
    }
    await input.markDelivered(phase, { op: first.op, key: first.member_key }, { op: last.op, key: last.member_key });
    input.onProgress?.(counts);
  }

  async function sendPage(phase: Phase, prepared: PreparedPage, batchSeq: number, lastBatch: boolean): Promise<void> {
    const { page, members, rejections } = prepared;
    const delivered = await sendWithRetry(phase, members, batchSeq, lastBatch);
    if (!delivered) {
      counts.failedRows += page.length - rejections.length;
      if (rejections.length) await input.recordRejections(rejections);
      return;
    }
    counts.sent += members.length;
    counts.confirmed += Math.max(0, delivered.received - delivered.invalid);
    counts.rejected += Math.max(delivered.invalid, delivered.rejected.length);
    // Platforms sample invalid entries: those they do not name count under a reason of their own.
    const platformReasons = tally(delivered.rejected.map((r) => r.reason));
    const unnamed = delivered.invalid - delivered.rejected.length;
    if (unnamed > 0) platformReasons.set('invalid_entry', (platformReasons.get('invalid_entry') ?? 0) + unnamed);
    for (const [reason, count] of platformReasons) input.observer?.rowsRejected?.({ phase, reason, count, by: 'platform' });
    for (const r of delivered.rejected) rejections.push({ memberKey: r.memberKey, op: page.find((p) => p.member_key === r.memberKey)?.op ?? 'add', phase, reason: r.reason, ...(r.detail ? { detail: r.detail } : {}) });
    await settle(phase, prepared);
  }

  async function sendWithRetry(phase: Phase, members: PreparedMember[], batchSeq: number, lastBatch: boolean) {
    const context = {
      session: { id: `${input.sessionId}-${phase}`, batchSeq, lastBatch, estimatedTotal: input.estimatedTotal[phase] },
      ...(input.consent ? { consent: input.consent.default } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
    };
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (stopped) return undefined;
      await input.limiter.acquire();
      counts.requests += 1;
      try {
        const result = phase === 'add'
          ? await input.destination.add(input.audience, members, context)
          : await input.destination.remove(input.audience, members, context);
        input.observer?.batchDelivered?.({
          phase, batchSeq, rows: members.length, confirmed: Math.max(0, result.received - result.invalid), rejected: Math.max(result.invalid, result.rejected.length),
          attempts: attempt, durationMs: Date.now() - started,
        });
        return result;
      } catch (error) {
        const failure = error instanceof DestinationError ? error : new DestinationError('retryable', error instanceof Error ? error.message : String(error), { platform: input.destination.platform });
        const waitTooLong = (failure.details.retryAfterMs ?? 0) > input.retry.maxRetryAfterMs;
        const retryInMs = failure.retryable && !waitTooLong && attempt < input.retry.attempts ? backoffDelay(attempt, input.retry, failure.details.retryAfterMs) : null;
        input.observer?.batchFailed?.({ phase, batchSeq, attempt, error: failure, retryInMs });
        if (!failure.retryable) {
          stopped ??= { reason: failure.message, failure: failure.failure };
          return undefined;
        }
        if (waitTooLong) {
          stopped ??= { reason: `${failure.message} (the platform asks to wait ${Math.ceil(failure.details.retryAfterMs! / 1000)} s; the next run resumes)`, failure: failure.failure };
          return undefined;
        }
        if (retryInMs === null) return undefined;
        counts.retries += 1;
        await sleep(retryInMs);
      }
    }
  }
}
