import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DestinationError } from '../destinations/destination';
import { withTimeout } from './timeout';

/** A destination as metrics label it: its slug and kind (few of each, so bounded cardinality). */
export interface DestinationLabels {
  slug: string;
  kind: string;
}

/** Platform failures as counted: the destination's failure class, with timeouts told apart. */
export function platformErrorClass(error: DestinationError): string {
  const code = error.details.code;
  return code === 'timeout' || code === 'DEADLINE_EXCEEDED' ? 'timeout' : error.failure;
}

const RUN_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * The service's Prometheus metrics, in a registry of its own (several services in one process,
 * as in tests, do not collide). Services call the typed methods; label names live here only.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'audiences_http_request_duration_seconds', help: 'HTTP requests by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const, registers: [this.registry],
  });
  private readonly refreshRuns = new Counter({
    name: 'audiences_refresh_runs_total', help: 'Finished refresh runs by status.', labelNames: ['status'] as const, registers: [this.registry],
  });
  private readonly refreshDuration = new Histogram({
    name: 'audiences_refresh_duration_seconds', help: 'Refresh run durations by status.', labelNames: ['status'] as const, buckets: RUN_SECONDS, registers: [this.registry],
  });
  private readonly syncRuns = new Counter({
    name: 'audiences_sync_runs_total', help: 'Finished sync runs by status (needs_approval included).', labelNames: ['status'] as const, registers: [this.registry],
  });
  private readonly syncDuration = new Histogram({
    name: 'audiences_sync_duration_seconds', help: 'Sync run durations by status.', labelNames: ['status'] as const, buckets: RUN_SECONDS, registers: [this.registry],
  });
  private readonly rowsSent = new Counter({
    name: 'audiences_sync_rows_sent_total', help: 'Member rows sent in requests the platform accepted.',
    labelNames: ['destination', 'destination_kind'] as const, registers: [this.registry],
  });
  private readonly rowsConfirmed = new Counter({
    name: 'audiences_sync_rows_confirmed_total', help: 'Member rows the platform acknowledged as received and valid.',
    labelNames: ['destination', 'destination_kind'] as const, registers: [this.registry],
  });
  private readonly rowsRejected = new Counter({
    name: 'audiences_sync_rows_rejected_total', help: 'Member rows refused, by us (no usable identifier) or by the platform, by reason.',
    labelNames: ['destination', 'destination_kind', 'reason'] as const, registers: [this.registry],
  });
  private readonly platformErrors = new Counter({
    name: 'audiences_platform_errors_total', help: 'Failed platform requests by destination kind and class (rate_limited, retryable, timeout, permanent, invalid_request).',
    labelNames: ['destination_kind', 'class'] as const, registers: [this.registry],
  });
  private queueDepthSource: (() => Promise<Record<string, number>>) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const source = () => this.queueDepthSource;
    new Gauge({
      name: 'audiences_job_queue_depth', help: 'Jobs waiting per queue, read from pg-boss at scrape time.', labelNames: ['queue'] as const, registers: [this.registry],
      async collect() {
        this.reset();
        const read = source();
        if (!read) return;
        // A scrape must not fail, nor hang, because the queue does: no samples rather than stale ones.
        const depths = await withTimeout(read(), 2_000).catch(() => undefined);
        for (const [queue, depth] of Object.entries(depths ?? {})) this.set({ queue }, depth);
      },
    });
  }

  /** Where queue depths come from (the job queue of this process), read on each scrape. */
  observeQueueDepth(source: () => Promise<Record<string, number>>): void {
    this.queueDepthSource = source;
  }

  httpRequest(request: { method: string; route: string; statusCode: number; seconds: number }): void {
    this.httpDuration.observe({ method: request.method, route: request.route, status_code: String(request.statusCode) }, request.seconds);
  }

  refreshFinished(run: { status: string; durationMs: number }): void {
    this.refreshRuns.inc({ status: run.status });
    this.refreshDuration.observe({ status: run.status }, run.durationMs / 1000);
  }

  syncFinished(run: { status: string; durationMs: number }): void {
    this.syncRuns.inc({ status: run.status });
    this.syncDuration.observe({ status: run.status }, run.durationMs / 1000);
  }

  rowsDelivered(destination: DestinationLabels, rows: { sent: number; confirmed: number }): void {
    const labels = { destination: destination.slug, destination_kind: destination.kind };
    this.rowsSent.inc(labels, rows.sent);
    this.rowsConfirmed.inc(labels, rows.confirmed);
  }

  rowsRefused(destination: DestinationLabels, rows: { reason: string; count: number }): void {
    this.rowsRejected.inc({ destination: destination.slug, destination_kind: destination.kind, reason: rows.reason }, rows.count);
  }

  platformError(destinationKind: string, error: DestinationError): void {
    this.platformErrors.inc({ destination_kind: destinationKind, class: platformErrorClass(error) });
  }

  /** The exposition text and its content type (`text/plain; version=0.0.4`). */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
