import { preconditionFailed } from '../errors';

export const etagOf = (version: number): string => `"${version}"`;

/**
 * If-Match check for optimistic concurrency (RFC 9110 §13.1.1). Absent header: no check.
 * `*` matches any current representation. Weak tags never match (strong comparison).
 */
export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*') || tags.includes(etagOf(version))) return;
  throw preconditionFailed(`If-Match ${ifMatch} does not match the current version (ETag ${etagOf(version)}); fetch the resource again and retry.`);
}
