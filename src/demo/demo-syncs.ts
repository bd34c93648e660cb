import { AppError } from '../errors';
import type { Runtime } from '../runtime';

/**
 * The embedded demo's destination and syncs: hashed NDJSON files under FILE_DESTINATION_ROOT
 * (default `.data/exports`). Created once; a restart leaves them (and any edits) alone.
 */
export async function ensureDemoSyncs(runtime: Runtime): Promise<string[]> {
  const created: string[] = [];
  const exists = (work: Promise<unknown>) => work.then(() => true, (error: unknown) => {
    if (error instanceof AppError && error.status === 404) return false;
    throw error;
  });
  if (!(await exists(runtime.destinations.get('demo-files')))) {
    await runtime.destinations.create({ slug: 'demo-files', name: 'Demo files', kind: 'file', config: { directory: 'demo', normalizeFor: 'meta' } });
    created.push('destination demo-files');
  }
  const mapping = { email: 'email', phone: 'phone', first_name: 'first_name', last_name: 'last_name', country: 'country', external_id: 'external_id' } as const;
  const syncs = [
    { slug: 'us-high-value-to-files', name: 'US high-value → files (every 5 minutes)', segment: 'us-high-value', schedule: { type: 'cron' as const, cron: '*/5 * * * *', timezone: 'UTC' } },
    { slug: 'lapsed-customers-to-files', name: 'Lapsed customers → files (after each refresh)', segment: 'lapsed-customers', schedule: { type: 'after_refresh' as const } },
  ];
  for (const sync of syncs) {
    if (await exists(runtime.syncs.get(sync.slug))) continue;
    if (!(await exists(runtime.segments.get(sync.segment)))) continue;
    await runtime.syncs.create({ ...sync, destination: 'demo-files', mapping });
    created.push(`sync ${sync.slug}`);
  }
  return created;
}
