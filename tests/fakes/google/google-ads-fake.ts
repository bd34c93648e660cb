/**
 * A loopback Google Ads API (v24) over gRPC, built from the protos `google-ads-node` ships:
 * UserListService.MutateUserLists, GoogleAdsService.Search / SearchStream (GAQL over user_list,
 * offline_user_data_job and customer), OfflineUserDataJobService.Create / AddOperations / Run.
 * It enforces the limits Google enforces, answers errors the way Google does (GoogleAdsFailure in
 * the `…googleadsfailure-bin` trailer) and injects faults on demand.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { adsError, FaultBox, nextRequestId, partialFailureStatus, type AdsErrorSpec } from './status';
import { FakeGoogleBackend, type FakeJob, type FakeUserList, type UploadKeyType } from './backend';

const require = createRequire(import.meta.url);
const googleAdsNodeRequire = createRequire(createRequire(require.resolve('google-ads-api')).resolve('google-ads-node'));

let packageDefinition: protoLoader.PackageDefinition | undefined;
function adsPackage(): protoLoader.PackageDefinition {
  // ~1 s to build: once per test file.
  packageDefinition ??= protoLoader.fromJSON(googleAdsNodeRequire('google-ads-node/build/protos/protos.json'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return packageDefinition;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** IDFA / AAID: a UUID. */
export const MOBILE_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const JOB_MAX_IDENTIFIERS_PER_REQUEST = 100_000;
export const JOB_MAX_IDENTIFIERS_PER_USER_DATA = 20;

export interface RecordedCall {
  method: string;
  request: any;
  metadata: Record<string, string>;
  at: number;
}

export interface GoogleAdsFakeOptions {
  backend?: FakeGoogleBackend;
  /** Developer tokens allowed to upload Customer Match members through OfflineUserDataJobService. */
  allowlistedDeveloperTokens?: string[];
}

type Handler = (call: { request: any; metadata: grpc.Metadata }) => Promise<any> | any;

export class GoogleAdsFake {
  readonly backend: FakeGoogleBackend;
  readonly calls: RecordedCall[] = [];
  readonly faults = new FaultBox();
  readonly allowlisted: Set<string>;
  private server?: grpc.Server;
  port = 0;

  constructor(options: GoogleAdsFakeOptions = {}) {
    this.backend = options.backend ?? new FakeGoogleBackend();
    this.allowlisted = new Set(options.allowlistedDeveloperTokens ?? []);
  }

  get endpoint() {
    return { host: '127.0.0.1', port: this.port, insecure: true };
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async start(): Promise<this> {
    const pkg = grpc.loadPackageDefinition(adsPackage()) as any;
    const svc = (name: string) => pkg.google.ads.googleads.v24.services[name].service;
    const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
    server.addService(svc('UserListService'), { MutateUserLists: this.unary('MutateUserLists', (c) => this.mutateUserLists(c)) });
    server.addService(svc('GoogleAdsService'), {
      Search: this.unary('Search', (c) => ({ results: this.search(c), next_page_token: '' })),
      SearchStream: (call: grpc.ServerWritableStream<any, any>) => this.searchStream(call),
      Mutate: this.unary('Mutate', () => {
        throw adsError(grpc.status.UNIMPLEMENTED, [{ code: { request_error: 'UNKNOWN' }, message: 'not implemented by the fake' }]);
      }),
    });
    server.addService(svc('OfflineUserDataJobService'), {
      CreateOfflineUserDataJob: this.unary('CreateOfflineUserDataJob', (c) => this.createJob(c)),
      AddOfflineUserDataJobOperations: this.unary('AddOfflineUserDataJobOperations', (c) => this.addOperations(c)),
      RunOfflineUserDataJob: this.unary('RunOfflineUserDataJob', (c) => this.runJob(c)),
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

  /** Wraps a handler: records the call, applies faults, checks the developer token, turns thrown errors into gRPC errors. */
  private unary(method: string, handler: Handler) {
    return async (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
      try {
        callback(null, await this.handle(method, call, handler));
      } catch (err) {
        callback(err as grpc.ServiceError);
      }
    };
  }

  private async handle(method: string, call: { request: any; metadata: grpc.Metadata }, handler: Handler) {
    const metadata = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
    this.calls.push({ method, request: call.request, metadata, at: Date.now() });
    const fault = this.faults.take(method);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.error) throw fault.error;
    if (!metadata['developer-token']) {
      throw adsError(grpc.status.UNAUTHENTICATED, [{ code: { authentication_error: 'DEVELOPER_TOKEN_NOT_PROVIDED' }, message: 'The developer token is not provided.' }]);
    }
    this.backend.tick();
    return handler(call);
  }

  private customerId(request: any): string {
    return String(request.customer_id ?? '').replace(/-/g, '');
  }

  // ---- UserListService ---------------------------------------------------------------------

  private mutateUserLists({ request }: { request: any }) {
    const customerId = this.customerId(request);
    const results: { resource_name: string }[] = [];
    const errors: AdsErrorSpec[] = [];
    const created: FakeUserList[] = [];
    (request.operations ?? []).forEach((op: any, index: number) => {
      const ul = op.create;
      if (!ul) {
        errors.push({ code: { request_error: 'BAD_RESOURCE_ID' }, message: 'only create is supported by the fake', operationIndex: index });
        return;
      }
      if (!ul.name) return errors.push({ code: { user_list_error: 'NAME_REQUIRED' }, message: 'Name is required.', operationIndex: index });
      if ([...this.backend.lists.values()].some((l) => l.customerId === customerId && l.name === ul.name)) {
        return errors.push({ code: { user_list_error: 'NAME_ALREADY_USED' }, message: 'Name is already being used for another user list for the account.', operationIndex: index });
      }
      const span = ul.membership_life_span === undefined ? undefined : Number(ul.membership_life_span);
      if (span !== undefined && !((span >= 0 && span <= 540) || span === 10000)) {
        return errors.push({ code: { user_list_error: 'INVALID_MEMBERSHIP_LIFE_SPAN' }, message: 'Membership life span is invalid.', operationIndex: index });
      }
      if (ul.crm_based_user_list) {
        const keyType = ul.crm_based_user_list.upload_key_type as UploadKeyType | undefined;
        if (!keyType || !['CONTACT_INFO', 'CRM_ID', 'MOBILE_ADVERTISING_ID'].includes(keyType)) {
          return errors.push({ code: { user_list_error: 'UPLOAD_KEY_TYPE_REQUIRED' }, message: 'An upload key type is required.', operationIndex: index });
        }
        created.push(this.backend.createList({ customerId, name: ul.name, description: ul.description, type: 'CRM_BASED', uploadKeyType: keyType, membershipLifeSpan: span }));
      } else if (ul.lookalike_user_list) {
        const lk = ul.lookalike_user_list;
        const seeds = (lk.seed_user_list_ids ?? []).map(String);
        if (!seeds.length || seeds.some((s: string) => !this.backend.listOf(customerId, s))) {
          return errors.push({ code: { user_list_error: 'INVALID_SEED_LIST' }, message: 'Seed list is invalid.', operationIndex: index });
        }
        if (!lk.country_codes?.length) return errors.push({ code: { user_list_error: 'INVALID_COUNTRY_CODES' }, message: 'Country codes are required.', operationIndex: index });
        if (!['NARROW', 'BALANCED', 'BROAD'].includes(lk.expansion_level)) {
          return errors.push({ code: { user_list_error: 'INVALID_EXPANSION_LEVEL' }, message: 'Expansion level is invalid.', operationIndex: index });
        }
        created.push(
          this.backend.createList({ customerId, name: ul.name, type: 'LOOKALIKE', lookalike: { seedIds: seeds, expansionLevel: lk.expansion_level, countryCodes: lk.country_codes }, readOnly: false }),
        );
      } else {
        return errors.push({ code: { user_list_error: 'INVALID_USER_LIST_TYPE' }, message: 'Only CRM-based and lookalike lists in the fake.', operationIndex: index });
      }
      results.push({ resource_name: `customers/${customerId}/userLists/${created[created.length - 1]!.id}` });
    });
    if (errors.length) {
      created.forEach((l) => this.backend.lists.delete(l.id)); // atomic without partial_failure
      throw adsError(grpc.status.INVALID_ARGUMENT, errors);
    }
    return { results };
  }

  // ---- GoogleAdsService (GAQL) -------------------------------------------------------------

  private userListRow(l: FakeUserList) {
    const size = String(l.members.size);
    return {
      user_list: {
        resource_name: `customers/${l.customerId}/userLists/${l.id}`,
        id: l.id,
        name: l.name,
        ...(l.description ? { description: l.description } : {}),
        type: l.type,
        read_only: l.readOnly,
        membership_status: l.membershipStatus,
        ...(l.membershipLifeSpan !== undefined ? { membership_life_span: String(l.membershipLifeSpan) } : {}),
        size_for_search: size,
        size_for_display: size,
        eligible_for_search: true,
        eligible_for_display: true,
        match_rate_percentage: l.type === 'CRM_BASED' ? this.backend.matchRatePercentage : undefined,
        ...(l.uploadKeyType ? { crm_based_user_list: { upload_key_type: l.uploadKeyType, data_source_type: 'FIRST_PARTY' } } : {}),
        ...(l.lookalike
          ? { lookalike_user_list: { seed_user_list_ids: l.lookalike.seedIds, expansion_level: l.lookalike.expansionLevel, country_codes: l.lookalike.countryCodes } }
          : {}),
      },
    };
  }

  private jobRow(j: FakeJob) {
    return {
      offline_user_data_job: {
        resource_name: j.resourceName,
        id: j.id,
        type: j.type,
        status: j.status,
        customer_match_user_list_metadata: { user_list: `customers/${j.customerId}/userLists/${j.listId}`, ...(j.consent ? { consent: j.consent } : {}) },
      },
    };
  }

  /** Just enough GAQL: `SELECT … FROM <resource> [WHERE <resource>.<field> = <value>] [LIMIT n]`. */
  private search({ request }: { request: any }): any[] {
    const customerId = this.customerId(request);
    const query = String(request.query ?? '');
    const from = /\bFROM\s+(\w+)/i.exec(query)?.[1];
    const where = /\bWHERE\s+(\w+)\.(\w+)\s*=\s*'?([^'\s]+)'?/i.exec(query);
    if (!from || !/^\s*SELECT\s/i.test(query)) {
      throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { query_error: 'UNEXPECTED_END_OF_QUERY' }, message: 'Error in query: unexpected end of query.' }]);
    }
    if (from === 'customer') return [{ customer: { resource_name: `customers/${customerId}`, id: customerId, descriptive_name: 'Fake customer', currency_code: 'EUR' } }];
    if (from === 'user_list') {
      let lists = [...this.backend.lists.values()].filter((l) => l.customerId === customerId);
      if (where?.[2] === 'id') lists = lists.filter((l) => l.id === where[3]);
      if (where?.[2] === 'resource_name') lists = lists.filter((l) => `customers/${customerId}/userLists/${l.id}` === where[3]);
      return lists.map((l) => this.userListRow(l));
    }
    if (from === 'offline_user_data_job') {
      let jobs = [...this.backend.jobs.values()].filter((j) => j.customerId === customerId);
      if (where?.[2] === 'resource_name') jobs = jobs.filter((j) => j.resourceName === where[3]);
      if (where?.[2] === 'id') jobs = jobs.filter((j) => j.id === where[3]);
      return jobs.map((j) => this.jobRow(j));
    }
    throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { query_error: 'INVALID_RESOURCE_NAME' }, message: `The fake does not serve '${from}'.` }]);
  }

  private async searchStream(call: grpc.ServerWritableStream<any, any>) {
    try {
      const results = await this.handle('SearchStream', call, (c) => this.search(c));
      call.write({ results, request_id: nextRequestId() });
      call.end();
    } catch (err) {
      call.destroy(err as Error);
    }
  }

  // ---- OfflineUserDataJobService -----------------------------------------------------------

  private requireAllowlisted(metadata: grpc.Metadata) {
    const token = String(metadata.get('developer-token')[0] ?? '');
    if (!this.allowlisted.has(token)) {
      throw adsError(grpc.status.INVALID_ARGUMENT, [
        {
          code: { not_allowlisted_error: 'CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE' },
          message: 'Customer is not allowlisted for accessing this feature. Use the Data Manager API to upload Customer Match members.',
        },
      ]);
    }
  }

  private createJob({ request, metadata }: { request: any; metadata: grpc.Metadata }) {
    const customerId = this.customerId(request);
    const job = request.job ?? {};
    if (job.type !== 'CUSTOMER_MATCH_USER_LIST') {
      throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { offline_user_data_job_error: 'INVALID_USER_LIST_TYPE' }, message: 'Only Customer Match jobs in the fake.' }]);
    }
    this.requireAllowlisted(metadata);
    const listName = String(job.customer_match_user_list_metadata?.user_list ?? '');
    const listId = listName.split('/').pop() ?? '';
    const list = this.backend.listOf(customerId, listId);
    if (!list || list.type !== 'CRM_BASED' || listName !== `customers/${customerId}/userLists/${listId}`) {
      throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { offline_user_data_job_error: 'INVALID_USER_LIST_ID' }, message: 'The user list ID provided for the job is invalid.' }]);
    }
    if (this.backend.termsNotAccepted.has(customerId)) {
      throw adsError(grpc.status.INVALID_ARGUMENT, [
        { code: { offline_user_data_job_error: 'CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS' }, message: 'The customer has not accepted the customer data terms.' },
      ]);
    }
    const id = this.backend.nextId();
    const created: FakeJob = {
      resourceName: `customers/${customerId}/offlineUserDataJobs/${id}`,
      id,
      customerId,
      listId,
      type: job.type,
      consent: job.customer_match_user_list_metadata?.consent,
      status: 'PENDING',
      operations: [],
      operationLevelConsent: 0,
    };
    this.backend.jobs.set(created.resourceName, created);
    return { resource_name: created.resourceName };
  }

  private jobOr404(resourceName: string): FakeJob {
    const job = this.backend.jobs.get(resourceName);
    if (!job) throw adsError(grpc.status.NOT_FOUND, [{ code: { mutate_error: 'RESOURCE_NOT_FOUND' }, message: 'Resource was not found.' }]);
    return job;
  }

  private identifierStrings(userData: any, keyType: UploadKeyType): { ids?: string[]; error?: AdsErrorSpec } {
    const ids: string[] = [];
    const identifiers: any[] = userData?.user_identifiers ?? [];
    if (!identifiers.length) return { error: { code: { offline_user_data_job_error: 'MISSING_USER_IDENTIFIER' }, message: 'User identifier is missing.' } };
    if (identifiers.length > JOB_MAX_IDENTIFIERS_PER_USER_DATA) {
      return { error: { code: { offline_user_data_job_error: 'TOO_MANY_USER_IDENTIFIERS' }, message: 'Too many user identifiers in a single UserData.' } };
    }
    for (const u of identifiers) {
      const contact = u.hashed_email ?? u.hashed_phone_number ?? u.address_info;
      if (contact !== undefined && keyType !== 'CONTACT_INFO') {
        return { error: { code: { offline_user_data_job_error: 'INCOMPATIBLE_UPLOAD_KEY_TYPE' }, message: 'The upload key type of the list does not match the user identifier.' } };
      }
      if (u.hashed_email !== undefined || u.hashed_phone_number !== undefined) {
        const v = String(u.hashed_email ?? u.hashed_phone_number);
        if (!HEX64.test(v)) return { error: { code: { offline_user_data_job_error: 'INVALID_SHA256_FORMAT' }, message: 'The SHA256 encoded value is malformed.' } };
        ids.push(u.hashed_email !== undefined ? `email:${v}` : `phone:${v}`);
      } else if (u.address_info) {
        const a = u.address_info;
        if (!HEX64.test(a.hashed_first_name ?? '') || !HEX64.test(a.hashed_last_name ?? '') || !a.country_code || !a.postal_code) {
          return { error: { code: { offline_user_data_job_error: 'INVALID_SHA256_FORMAT' }, message: 'Address info is incomplete or not hashed.' } };
        }
        ids.push(`address:${a.hashed_first_name}/${a.hashed_last_name}/${a.country_code}/${a.postal_code}`);
      } else if (u.mobile_id !== undefined) {
        if (keyType !== 'MOBILE_ADVERTISING_ID') return { error: { code: { offline_user_data_job_error: 'INCOMPATIBLE_UPLOAD_KEY_TYPE' }, message: 'Mobile ids need a MOBILE_ADVERTISING_ID list.' } };
        if (!MOBILE_ID.test(String(u.mobile_id))) return { error: { code: { offline_user_data_job_error: 'INVALID_MOBILE_ID_FORMAT' }, message: 'The mobile ID is malformed.' } };
        ids.push(`mobile:${u.mobile_id}`);
      } else if (u.third_party_user_id !== undefined) {
        if (keyType !== 'CRM_ID') return { error: { code: { offline_user_data_job_error: 'INCOMPATIBLE_UPLOAD_KEY_TYPE' }, message: 'Third-party user ids need a CRM_ID list.' } };
        ids.push(`crm:${u.third_party_user_id}`);
      }
    }
    return { ids };
  }

  private addOperations({ request }: { request: any }) {
    const job = this.jobOr404(String(request.resource_name ?? ''));
    if (job.status !== 'PENDING') {
      throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { offline_user_data_job_error: 'JOB_ALREADY_STARTED' }, message: 'The job has already been started.' }]);
    }
    const operations: any[] = request.operations ?? [];
    const identifierCount = operations.reduce((n, op) => n + ((op.create ?? op.remove)?.user_identifiers?.length ?? 0), 0);
    if (identifierCount > JOB_MAX_IDENTIFIERS_PER_REQUEST) {
      throw adsError(grpc.status.INVALID_ARGUMENT, [
        { code: { request_error: 'TOO_MANY_MUTATE_OPERATIONS' }, message: `${identifierCount} user identifiers in one request; at most ${JOB_MAX_IDENTIFIERS_PER_REQUEST}.` },
      ]);
    }
    const list = this.backend.lists.get(job.listId)!;
    const errors: AdsErrorSpec[] = [];
    const accepted: FakeJob['operations'] = [];
    operations.forEach((op, index) => {
      const kind: 'create' | 'remove' | undefined = op.create ? 'create' : op.remove ? 'remove' : undefined;
      if (!kind) return errors.push({ code: { offline_user_data_job_error: 'REMOVE_ALL_NOT_SUPPORTED' }, message: 'remove_all is not supported by the fake.', operationIndex: index });
      const jobKind = job.kind ?? accepted[0]?.kind;
      if (jobKind && jobKind !== kind) {
        // Whole-request failure: Google refuses mixing creates and removes in one job.
        throw adsError(grpc.status.INVALID_ARGUMENT, [
          { code: { offline_user_data_job_error: 'CONFLICTING_OPERATION' }, message: 'Mixing creation and removal of offline data in the same job is not allowed.', operationIndex: index },
        ]);
      }
      const userData = op[kind];
      if (userData.consent) job.operationLevelConsent++;
      const { ids, error } = this.identifierStrings(userData, list.uploadKeyType!);
      if (error) return errors.push({ ...error, operationIndex: index });
      accepted.push({ kind, identifiers: ids! });
    });
    if (errors.length && !request.enable_partial_failure) throw adsError(grpc.status.INVALID_ARGUMENT, errors);
    job.operations.push(...accepted);
    if (accepted[0]) job.kind ??= accepted[0].kind;
    return errors.length ? { partial_failure_error: partialFailureStatus(errors) } : {};
  }

  private runJob({ request }: { request: any }) {
    const job = this.jobOr404(String(request.resource_name ?? ''));
    if (job.status !== 'PENDING') {
      throw adsError(grpc.status.INVALID_ARGUMENT, [{ code: { offline_user_data_job_error: 'JOB_ALREADY_STARTED' }, message: 'The job has already been started.' }]);
    }
    const busy = [...this.backend.jobs.values()].some((j) => j !== job && j.listId === job.listId && j.status === 'RUNNING');
    if (busy) {
      throw adsError(grpc.status.ABORTED, [
        { code: { database_error: 'CONCURRENT_MODIFICATION' }, message: 'Multiple requests were attempting to modify the same resource at once. Retry the request.' },
      ]);
    }
    job.status = 'RUNNING';
    job.startedAt = Date.now();
    return { name: `customers/${job.customerId}/operations/${job.id}`, done: false };
  }
}
