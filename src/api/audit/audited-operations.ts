/**
 * Every operation that changes something, by operationId, with the action its audit event
 * records. The services write each event in the transaction that makes the change (routes pass
 * auditContextOf / writeOptionsOf), so no change is ever without its record. Tests check that
 * no mutating route of the spec is missing here and that each of these records its event.
 */
export const AUDITED_OPERATIONS: Record<string, { action: string; resourceType: string }> = {
  createModel: { action: 'model.create', resourceType: 'model' },
  replaceModel: { action: 'model.replace', resourceType: 'model' },
  deleteModel: { action: 'model.delete', resourceType: 'model' },
  createSegment: { action: 'segment.create', resourceType: 'segment' },
  updateSegment: { action: 'segment.update', resourceType: 'segment' },
  deleteSegment: { action: 'segment.delete', resourceType: 'segment' },
  refreshSegment: { action: 'segment.refresh', resourceType: 'refresh_run' },
  createDestination: { action: 'destination.create', resourceType: 'destination' },
  replaceDestination: { action: 'destination.replace', resourceType: 'destination' },
  deleteDestination: { action: 'destination.delete', resourceType: 'destination' },
  createSync: { action: 'sync.create', resourceType: 'sync' },
  replaceSync: { action: 'sync.replace', resourceType: 'sync' },
  deleteSync: { action: 'sync.delete', resourceType: 'sync' },
  startSyncRun: { action: 'sync.run', resourceType: 'sync_run' },
  approveSyncRun: { action: 'sync_run.approve', resourceType: 'sync_run' },
  createLookalike: { action: 'lookalike.create', resourceType: 'lookalike' },
  createToken: { action: 'token.create', resourceType: 'token' },
  revokeToken: { action: 'token.revoke', resourceType: 'token' },
};
