/**
 * A loopback Data Manager API (v1) IngestionService over gRPC, from the protos
 * `@google-ads/datamanager` ships: ingestAudienceMembers / removeAudienceMembers /
 * retrieveRequestStatus against the same user lists as the Google Ads fake. Enforces ≤ 10,000
 * members per request, ≤ 10 identifiers per member, one data type per request, HEX SHA-256
 * hashes, the list's upload key type; errors as google.rpc.Status details (ErrorInfo reason,
 * BadRequest field violations, RetryInfo).
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FakeGoogleBackend, type FakeUserList } from './backend';
import { FaultBox, rpcError } from './status';
import { MOBILE_ID, type RecordedCall } from './google-ads-fake';

const require = createRequire(import.meta.url);

let packageDefinition: protoLoader.PackageDefinition | undefined;
function dmPackage(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.fromJSON(require('@google-ads/datamanager/build/protos/protos.json'), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return packageDefinition;
}

export const DM_MAX_MEMBERS = 10_000;
export const DM_MAX_IDENTIFIERS = 10;
const HEX64 = /^[0-9a-f]{64}$/;

export interface FakeRequestStatus {
  requestId: string;
  kind: 'ingest' | 'remove';
  listId: string;
  records: number;
  identifiers: number;
  /** retrieveRequestStatus answers PROCESSING this many more times. */
  processingPolls: number;
  /** Records reported failed (e.g. consent denied). */
  failed: number;
}

export class DataManagerFake {
  readonly backend: FakeGoogleBackend;
  readonly calls: RecordedCall[] = [];
  readonly faults = new FaultBox();
  readonly statuses = new Map<string, FakeRequestStatus>();
  /** How many retrieveRequestStatus calls answer PROCESSING before the final status. */
  processingPolls = 1;
  private seq = 0;
  private server?: grpc.Server;
  port = 0;

  constructor(options: { backend?: FakeGoogleBackend } = {}) {
    this.backend = options.backend ?? new FakeGoogleBackend();
  }

  get endpoint() {
    return { host: '127.0.0.1', port: this.port, insecure: true };
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async start(): Promise<this> {
    const pkg = grpc.loadPackageDefinition(dmPackage()) as any;
    const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
    server.addService(pkg.google.ads.datamanager.v1.IngestionService.service, {
      IngestAudienceMembers: this.unary('IngestAudienceMembers', (r) => this.members('ingest', r)),
      RemoveAudienceMembers: this.unary('RemoveAudienceMembers', (r) => this.members('remove', r)),
      RetrieveRequestStatus: this.unary('RetrieveRequestStatus', (r) => this.retrieve(r)),
      IngestEvents: this.unary('IngestEvents', () => {
        throw rpcError(grpc.status.UNIMPLEMENTED, 'not implemented by the fake');
      }),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  private unary(method: string, handler: (request: any) => any) {
    return async (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
      const metadata = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
      this.calls.push({ method, request: call.request, metadata, at: Date.now() });
      try {
        const fault = this.faults.take(method);
        if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
        if (fault?.error) throw fault.error;
        callback(null, handler(call.request));
      } catch (err) {
        callback(err as grpc.ServiceError);
      }
    };
  }

  private invalid(reason: string, message: string, fieldViolations?: { field: string; description: string }[]) {
    return rpcError(grpc.status.INVALID_ARGUMENT, message, { reason, fieldViolations });
  }

  private list(request: any): FakeUserList {
    const destinations: any[] = request.destinations ?? [];
    if (destinations.length !== 1) throw this.invalid('INVALID_DESTINATION', 'The fake takes exactly one destination.');
    const d = destinations[0];
    const operating = d.operatingAccount;
    if (!operating?.accountId || operating.accountType !== 'GOOGLE_ADS') throw this.invalid('INVALID_DESTINATION', 'operating_account must be a GOOGLE_ADS account.');
    const list = this.backend.listOf(String(operating.accountId), String(d.productDestinationId ?? ''));
    if (!list) throw rpcError(grpc.status.NOT_FOUND, `User list ${d.productDestinationId} not found.`, { reason: 'INVALID_USER_LIST_ID' });
    if (list.type !== 'CRM_BASED') throw this.invalid('INVALID_USER_LIST_TYPE', 'Type of the user list is not applicable for this request.');
    if (this.backend.termsNotAccepted.has(list.customerId) && request.termsOfService?.customerMatchTermsOfServiceStatus !== 'ACCEPTED') {
      throw rpcError(grpc.status.PERMISSION_DENIED, 'Required terms and conditions are not accepted.', { reason: 'TERMS_AND_CONDITIONS_NOT_SIGNED' });
    }
    return list;
  }

  private members(kind: 'ingest' | 'remove', request: any) {
    const members: any[] = request.audienceMembers ?? [];
    if (!members.length) throw this.invalid('REQUIRED_FIELD_MISSING', 'audience_members is required.');
    if (members.length > DM_MAX_MEMBERS) {
      throw this.invalid('TOO_MANY_AUDIENCE_MEMBERS', `Maximum number of audience members allowed per request is ${DM_MAX_MEMBERS}.`);
    }
    const list = this.list(request);
    const dataTypes = new Set(members.map((m) => m.data));
    if (dataTypes.size > 1) throw this.invalid('MULTIPLE_DATA_TYPES_NOT_ALLOWED', 'Multiple data types are not allowed to be ingested in a single request.');
    const dataType = [...dataTypes][0];
    const wanted = { CONTACT_INFO: 'userData', MOBILE_ADVERTISING_ID: 'mobileData', CRM_ID: 'userIdData' }[list.uploadKeyType!];
    if (dataType !== wanted) throw this.invalid('INVALID_USER_LIST_TYPE', `A ${list.uploadKeyType} list does not take ${dataType}.`);
    if (request.encoding !== 'HEX' && dataType === 'userData') throw this.invalid('INVALID_FORMAT', 'encoding is required for hashed user data.');

    const violations: { field: string; description: string }[] = [];
    let reason = 'INVALID_AUDIENCE_MEMBER';
    const parsed: string[][] = members.map((m, i) => {
      const ids: string[] = [];
      if (m.userData) {
        const identifiers: any[] = m.userData.userIdentifiers ?? [];
        if (identifiers.length > DM_MAX_IDENTIFIERS) {
          reason = 'TOO_MANY_USER_IDENTIFIERS';
          violations.push({ field: `audience_members[${i}].user_data.user_identifiers`, description: `Maximum number of user identifiers allowed per audience member is ${DM_MAX_IDENTIFIERS}.` });
        }
        identifiers.forEach((u, j) => {
          const hashed = u.emailAddress ?? u.phoneNumber;
          if (hashed !== undefined) {
            if (!HEX64.test(hashed)) {
              reason = 'INVALID_SHA256_FORMAT';
              violations.push({ field: `audience_members[${i}].user_data.user_identifiers[${j}]`, description: 'The SHA256 encoded value is malformed.' });
            }
            ids.push(u.emailAddress !== undefined ? `email:${hashed}` : `phone:${hashed}`);
          } else if (u.address) {
            const a = u.address;
            if (!HEX64.test(a.givenName ?? '') || !HEX64.test(a.familyName ?? '') || !a.regionCode || !a.postalCode) {
              violations.push({ field: `audience_members[${i}].user_data.user_identifiers[${j}].address`, description: 'Address is incomplete or not hashed.' });
            }
            ids.push(`address:${a.givenName}/${a.familyName}/${a.regionCode}/${a.postalCode}`);
          }
        });
      } else if (m.mobileData) {
        (m.mobileData.mobileIds ?? []).forEach((id: string, j: number) => {
          if (!MOBILE_ID.test(id)) {
            reason = 'INVALID_MOBILE_ID_FORMAT';
            violations.push({ field: `audience_members[${i}].mobile_data.mobile_ids[${j}]`, description: 'Mobile ID format is not valid.' });
          }
          ids.push(`mobile:${id}`);
        });
      } else if (m.userIdData) {
        ids.push(`crm:${m.userIdData.userId}`);
      }
      if (!ids.length) violations.push({ field: `audience_members[${i}]`, description: 'No identifier.' });
      return ids;
    });
    if (violations.length) throw this.invalid(reason, `${violations.length} audience members are invalid.`, violations);

    // Consent: a member's own, else the request's; members whose ad_user_data is denied are not added.
    let failed = 0;
    const accepted = parsed.filter((ids, i) => {
      if (kind === 'remove') return true;
      const consent = members[i].consent ?? request.consent;
      if (consent?.adUserData === 'CONSENT_DENIED') {
        failed++;
        return false;
      }
      return true;
    });
    if (kind === 'ingest') this.backend.addMembers(list, accepted);
    else this.backend.removeMembers(list, accepted);
    const requestId = `dm-req-${++this.seq}`;
    this.statuses.set(requestId, {
      requestId,
      kind,
      listId: list.id,
      records: members.length,
      identifiers: parsed.reduce((n, ids) => n + ids.length, 0),
      processingPolls: this.processingPolls,
      failed,
    });
    return { requestId };
  }

  private retrieve(request: any) {
    const st = this.statuses.get(String(request.requestId ?? ''));
    if (!st) throw this.invalid('INVALID_REQUEST_ID', 'The request ID used to retrieve the status of a request is not valid.');
    const list = this.backend.lists.get(st.listId)!;
    const destination = { operatingAccount: { accountType: 'GOOGLE_ADS', accountId: list.customerId }, productDestinationId: list.id };
    if (st.processingPolls > 0) {
      st.processingPolls--;
      return { requestStatusPerDestination: [{ destination, requestStatus: 'PROCESSING' }] };
    }
    const counts = { recordCount: String(st.records), userIdentifierCount: String(st.identifiers) };
    return {
      requestStatusPerDestination: [
        {
          destination,
          requestStatus: st.failed === 0 ? 'SUCCESS' : st.failed === st.records ? 'FAILED' : 'PARTIAL_SUCCESS',
          ...(st.failed ? { errorInfo: { errorCounts: [{ recordCount: String(st.failed), reason: 'PROCESSING_ERROR_REASON_DENIED_CONSENT' }] } } : {}),
          ...(st.kind === 'ingest'
            ? { audienceMembersIngestionStatus: { userDataIngestionStatus: counts } }
            : { audienceMembersRemovalStatus: { userDataRemovalStatus: counts } }),
        },
      ],
    };
  }
}
