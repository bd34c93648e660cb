import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import type { PreparedMember } from '../../../src/destinations/destination';
import { createGoogleDestination, type GoogleCustomerMatchConfig, type GoogleTuning } from '../../../src/destinations/google';
import type { GoogleFakes } from '../../fakes/google';

export const CUSTOMER = '1234567890';
export const MANAGER = '9876543210';
export const credentials = {
  developerToken: 'devtoken-SECRET-0001',
  clientId: 'client-0001.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-client-secret-0001',
  refreshToken: '1//refresh-token-SECRET-0001',
};
export const SECRETS = Object.values(credentials);

/** Fast timings: gax deadlines in seconds, polls in milliseconds. */
export const fastTuning: Partial<GoogleTuning> = {
  rpcTimeoutMs: 15_000, // generous: a busy CI machine must not turn a slow answer into a failure
  jobPollIntervalMs: 5,
  jobPollTimeoutMs: 20_000,
  requestStatusAttempts: 4,
  requestStatusIntervalMs: 5,
};

export function googleDestination(fakes: GoogleFakes, config: Partial<GoogleCustomerMatchConfig> = {}, tuning: Partial<GoogleTuning> = {}, creds = credentials) {
  return createGoogleDestination({
    config: { customerId: CUSTOMER, loginCustomerId: MANAGER, ...config },
    credentials: creds,
    endpoints: fakes.endpoints,
    tuning: { ...fastTuning, ...tuning },
  });
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A member with hashed email + phone (and an address when asked). */
export function contactMember(i: number, extra: Partial<PreparedMember> = {}, address = false): PreparedMember {
  return {
    memberKey: `m${i}`,
    identifiers: {
      email: sha256(`user${i}@example.com`),
      phone: sha256(`+4930${String(i).padStart(7, '0')}`),
      ...(address ? { first_name: sha256('ada'), last_name: sha256(`lovelace${i}`), country: 'DE', zip: '10115' } : {}),
    },
    ...extra,
  };
}

export const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/**
 * Records every outbound TCP connection that is not to loopback (OAuth token endpoint, metadata
 * server, Google's hosts) and refuses it. Test-only instrumentation.
 */
export function guardNetwork(): { attempts: string[]; restore(): void } {
  const attempts: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net.connect passes its normalized [options, callback] array; callers may also pass (options), (port, host) or (path).
    const call = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
    const first = call[0] as { host?: string; port?: number; path?: string } | number | string;
    let host: string;
    let port: unknown;
    if (typeof first === 'object' && first !== null) {
      host = first.path ? 'unix' : (first.host ?? 'localhost');
      port = first.port;
    } else if (typeof first === 'number' || /^\d+$/.test(String(first))) {
      host = typeof call[1] === 'string' ? call[1] : 'localhost';
      port = first;
    } else {
      host = 'unix';
    }
    if (!['127.0.0.1', 'localhost', '::1', '::ffff:127.0.0.1', 'unix'].includes(host)) {
      attempts.push(`${host}:${String(port)}`);
      throw new Error(`network guard: connection to ${host} refused in tests`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  // Name lookups too (metadata.google.internal, oauth2.googleapis.com): they would leak even if the connect were refused.
  const local = (name: string) => ['localhost', '127.0.0.1', '::1'].includes(name);
  const originalLookup = dns.lookup;
  const originalPromiseLookup = dns.promises.lookup;
  dns.lookup = function (hostname: string, ...rest: unknown[]) {
    if (!local(hostname)) {
      attempts.push(`dns:${hostname}`);
      throw new Error(`network guard: lookup of ${hostname} refused in tests`);
    }
    return (originalLookup as (...a: unknown[]) => void)(hostname, ...rest);
  } as typeof dns.lookup;
  dns.promises.lookup = async function (hostname: string, ...rest: unknown[]) {
    if (!local(hostname)) {
      attempts.push(`dns:${hostname}`);
      throw new Error(`network guard: lookup of ${hostname} refused in tests`);
    }
    return (originalPromiseLookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest);
  } as typeof dns.promises.lookup;
  syncBuiltinESMExports(); // ESM named imports of node:dns see the guard too
  return {
    attempts,
    restore: () => {
      net.Socket.prototype.connect = original;
      dns.lookup = originalLookup;
      dns.promises.lookup = originalPromiseLookup;
      syncBuiltinESMExports();
    },
  };
}
