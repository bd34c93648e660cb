/**
 * What a token may do. `admin` holds every other scope; the others are independent, so a
 * dashboard can read without being able to change or run anything.
 */
export const SCOPES = ['read', 'write', 'run', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  read: 'Read definitions, runs, members (masked), history; compile, preview and count rules.',
  write: 'Create, change and delete models, segments, destinations and syncs.',
  run: 'Start refreshes and sync runs, approve held runs, create lookalikes.',
  admin: 'Everything, plus tokens, the audit log and identifiers in clear (`reveal=true`).',
};

export function grants(held: readonly string[], needed: Scope): boolean {
  return held.includes('admin') || held.includes(needed);
}

/**
 * The scope each /v1 operation needs, by operationId. The auth plugin refuses to start if a /v1
 * route is missing here, so a new route cannot be public by accident.
 */
export const OPERATION_SCOPES: Record<string, Scope> = {
  listModels: 'read', getModel: 'read', createModel: 'write', replaceModel: 'write', deleteModel: 'write',
  listSegments: 'read', getSegment: 'read', listSegmentVersions: 'read', createSegment: 'write', updateSegment: 'write', deleteSegment: 'write',
  // Compile, preview, count and evaluate change nothing: they are reads, even as POSTs.
  compileSegment: 'read', previewSegment: 'read', countSegment: 'read', evaluateSegment: 'read',
  refreshSegment: 'run', listRefreshRuns: 'read', getRefreshRun: 'read',
  listSegmentMembers: 'read', listSegmentChanges: 'read', getSegmentHistory: 'read',
  listWarehouseTables: 'read', draftModelFromTable: 'read',
  listDestinationKinds: 'read', listDestinations: 'read', getDestination: 'read',
  createDestination: 'write', replaceDestination: 'write', deleteDestination: 'write', testDestination: 'write',
  listSyncs: 'read', getSync: 'read', createSync: 'write', replaceSync: 'write', deleteSync: 'write',
  planSync: 'read', startSyncRun: 'run', listSyncRuns: 'read', getSyncRun: 'read', approveSyncRun: 'run', listSyncRunRejections: 'read',
  createLookalike: 'run', listLookalikes: 'read', getLookalike: 'read',
  createToken: 'admin', listTokens: 'admin', getToken: 'admin', revokeToken: 'admin',
  listAuditEvents: 'admin',
};
