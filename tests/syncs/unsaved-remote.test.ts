import { describe, expect, it } from 'vitest';
import { AppError, conflict } from '../../src/errors';
import { unsavedRemoteError } from '../../src/syncs/unsaved-remote';

const remote = { object: 'audience', remoteId: '120000000001', remedy: 'adopt it' };

describe('a platform object created for a write that was not saved', () => {
  it('keeps a client error as it was and adds what the platform holds', () => {
    const error = unsavedRemoteError(conflict('A sync with slug "x" already exists.', [{ pointer: '/slug', message: 'taken' }]), remote);
    expect(error).toMatchObject({ status: 409, title: 'Conflict', errors: [{ pointer: '/slug', message: 'taken' }] });
    expect(error.message).toBe('A sync with slug "x" already exists. The audience created on the platform for it (120000000001) is not recorded here: adopt it.');
  });

  it('turns anything else into a 500 that names the object but not the cause', () => {
    for (const cause of [new Error('connection terminated: secret-host:5432'), new AppError(503, 'Service unavailable', 'db down')]) {
      const error = unsavedRemoteError(cause, remote);
      expect(error.status).toBe(500);
      expect(error.message).toContain('(120000000001) is not recorded here: adopt it.');
      expect(error.message).not.toMatch(/secret-host|db down/);
    }
  });
});
