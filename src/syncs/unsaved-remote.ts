import { AppError } from '../errors';

export interface UnsavedRemote {
  /** What the platform now holds, e.g. `custom audience`, `lookalike`. */
  object: string;
  remoteId: string;
  /** What the caller can do about it, as a clause: `retry with … to adopt it`. */
  remedy: string;
}

/**
 * The error for a write that created something on an ad platform and then could not be saved
 * here (a slug taken meanwhile, the audit log refusing, the database gone). The platform object
 * is left as it is, and the answer names it, so the caller can adopt or delete it rather than
 * find it by name among lookalikes of the same name.
 */
export function unsavedRemoteError(cause: unknown, remote: UnsavedRemote): AppError {
  const sentence = `The ${remote.object} created on the platform for it (${remote.remoteId}) is not recorded here: ${remote.remedy}.`;
  if (cause instanceof AppError && cause.status < 500) {
    return new AppError(cause.status, cause.title, `${cause.message} ${sentence}`, cause.errors, cause.type);
  }
  return new AppError(500, 'Internal error', `An internal error occurred and nothing was saved. ${sentence} Quote the requestId when reporting it.`);
}
