/** How Google reports failures on the wire, for the fakes. */
import { createRequire } from 'node:module';
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { errors } from 'google-ads-api';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
// The google.rpc types exactly as gax decodes them (google-gax ships them as JSON).
const gaxRequire = createRequire(require.resolve('google-gax'));
const rpcRoot = protobuf.Root.fromJSON(gaxRequire('../../build/protos/status.json'));
const StatusType = rpcRoot.lookupType('google.rpc.Status');

export const ADS_FAILURE_KEY = 'google.ads.googleads.v24.errors.googleadsfailure-bin';
export const ADS_FAILURE_TYPE_URL = 'type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure';

/** One GoogleAdsError: `{ quota_error: 'RESOURCE_EXHAUSTED' }`-style code, message, optional operation index. */
export interface AdsErrorSpec {
  code: Record<string, string>;
  message: string;
  operationIndex?: number;
  retryDelaySeconds?: number;
}

let requestSeq = 0;
export const nextRequestId = () => `fake-req-${++requestSeq}`;

export function encodeAdsFailure(specs: AdsErrorSpec[], requestId = nextRequestId()): Uint8Array {
  const failure = errors.GoogleAdsFailure.fromObject({
    request_id: requestId,
    errors: specs.map((s) => ({
      error_code: s.code,
      message: s.message,
      ...(s.operationIndex !== undefined
        ? { location: { field_path_elements: [{ field_name: 'operations', index: s.operationIndex }, { field_name: 'create' }] } }
        : {}),
      ...(s.retryDelaySeconds !== undefined
        ? { details: { quota_error_details: { rate_scope: 'ACCOUNT', rate_name: 'Requests per account', retry_delay: { seconds: s.retryDelaySeconds } } } }
        : {}),
    })),
  });
  return errors.GoogleAdsFailure.encode(failure).finish();
}

/** A Google Ads API error: gRPC status plus the GoogleAdsFailure in trailing metadata, as Google sends it. */
export function adsError(code: Status, specs: AdsErrorSpec[]): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set(ADS_FAILURE_KEY, Buffer.from(encodeAdsFailure(specs)));
  metadata.set('request-id', nextRequestId());
  return { code, details: specs.map((s) => s.message).join('; '), metadata };
}

/** `partial_failure_error` of a response (a google.rpc.Status carrying a GoogleAdsFailure). */
export function partialFailureStatus(specs: AdsErrorSpec[]) {
  return {
    code: Status.INVALID_ARGUMENT,
    message: `Multiple errors in 'operations': ${specs.map((s) => s.message).join(', ')}`,
    details: [{ type_url: ADS_FAILURE_TYPE_URL, value: Buffer.from(encodeAdsFailure(specs)) }],
  };
}

export interface RpcErrorSpec {
  reason?: string;
  domain?: string;
  retryDelaySeconds?: number;
  fieldViolations?: { field: string; description: string }[];
}

/** A google.rpc.Status error (Data Manager style): ErrorInfo, RetryInfo, BadRequest in `grpc-status-details-bin`. */
export function rpcError(code: Status, message: string, spec: RpcErrorSpec = {}): Partial<ServiceError> {
  const any = (type: string, value: object) => ({
    type_url: `type.googleapis.com/${type}`,
    value: rpcRoot.lookupType(type).encode(rpcRoot.lookupType(type).fromObject(value)).finish(),
  });
  const details = [];
  if (spec.reason) details.push(any('google.rpc.ErrorInfo', { reason: spec.reason, domain: spec.domain ?? 'datamanager.googleapis.com' }));
  if (spec.retryDelaySeconds !== undefined) details.push(any('google.rpc.RetryInfo', { retryDelay: { seconds: spec.retryDelaySeconds } }));
  if (spec.fieldViolations?.length) details.push(any('google.rpc.BadRequest', { fieldViolations: spec.fieldViolations }));
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(StatusType.encode(StatusType.fromObject({ code, message, details })).finish()));
  return { code, details: message, metadata };
}

/** A programmable fault: which method, how many times, what to answer (or how long to stall). */
export interface Fault {
  /** gRPC method name, e.g. `MutateUserLists`, `IngestAudienceMembers`; `*` for any. */
  method: string;
  times: number;
  error?: Partial<ServiceError>;
  delayMs?: number;
}

export class FaultBox {
  private faults: Fault[] = [];

  inject(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault for this call, consuming one use. */
  take(method: string): Fault | undefined {
    const f = this.faults.find((x) => (x.method === method || x.method === '*') && x.times > 0);
    if (f) f.times--;
    return f;
  }
}
