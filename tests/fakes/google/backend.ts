/** The state one fake Google holds: user lists with their members, and offline user data jobs. */

export type UploadKeyType = 'CONTACT_INFO' | 'CRM_ID' | 'MOBILE_ADVERTISING_ID';

export interface FakeUserList {
  id: string;
  customerId: string;
  name: string;
  description?: string;
  type: 'CRM_BASED' | 'LOOKALIKE' | 'RULE_BASED';
  uploadKeyType?: UploadKeyType;
  membershipLifeSpan?: number;
  membershipStatus: 'OPEN' | 'CLOSED';
  readOnly: boolean;
  lookalike?: { seedIds: string[]; expansionLevel: string; countryCodes: string[] };
  /** Members by number: each a set of identifier strings (`email:<hash>`, `mobile:<id>`, …). */
  members: Map<number, Set<string>>;
  /** Identifier string → member number. */
  index: Map<string, number>;
}

export interface FakeJob {
  resourceName: string;
  id: string;
  customerId: string;
  listId: string;
  type: string;
  consent?: { ad_user_data?: string; ad_personalization?: string };
  status: 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILED';
  kind?: 'create' | 'remove';
  operations: { kind: 'create' | 'remove'; identifiers: string[] }[];
  /** Operations that carried their own (ignored) consent. */
  operationLevelConsent: number;
  startedAt?: number;
  finishedAt?: number;
  /** Set for jobs started by "another process" (see `startExternalJob`). */
  external?: boolean;
}

export class FakeGoogleBackend {
  readonly lists = new Map<string, FakeUserList>();
  readonly jobs = new Map<string, FakeJob>();
  private seq = 1_000_000;
  /** Match rate the fake reports (Google's is a rounded estimate). */
  matchRatePercentage = 72;
  /** How long a job runs before it succeeds. */
  jobDurationMs = 20;
  /** Customers that have not accepted the Customer Match terms. */
  readonly termsNotAccepted = new Set<string>();

  nextId(): string {
    return String(++this.seq);
  }

  private memberSeq = 0;

  createList(
    list: Omit<FakeUserList, 'id' | 'members' | 'index' | 'membershipStatus' | 'readOnly'> & Partial<Pick<FakeUserList, 'membershipStatus' | 'readOnly'>>,
  ): FakeUserList {
    const created: FakeUserList = { membershipStatus: 'OPEN', readOnly: false, ...list, id: this.nextId(), members: new Map(), index: new Map() };
    this.lists.set(created.id, created);
    return created;
  }

  listOf(customerId: string, id: string): FakeUserList | undefined {
    const l = this.lists.get(id);
    return l && l.customerId === customerId ? l : undefined;
  }

  /** Adds members; one sharing an identifier with a present member merges into it (Google matches by any identifier). */
  addMembers(list: FakeUserList, members: string[][]): void {
    for (const ids of members) {
      const hit = ids.map((i) => list.index.get(i)).find((n) => n !== undefined);
      const n = hit ?? ++this.memberSeq;
      const set = list.members.get(n) ?? new Set<string>();
      list.members.set(n, set);
      for (const i of ids) {
        set.add(i);
        list.index.set(i, n);
      }
    }
  }

  removeMembers(list: FakeUserList, members: string[][]): void {
    for (const ids of members) {
      for (const i of ids) {
        const n = list.index.get(i);
        if (n === undefined) continue;
        for (const x of list.members.get(n) ?? []) list.index.delete(x);
        list.members.delete(n);
      }
    }
  }

  /** Advances jobs whose time has come (called on every request and read). */
  tick(now = Date.now()): void {
    for (const job of this.jobs.values()) {
      if (job.status !== 'RUNNING' || job.startedAt === undefined || now < job.startedAt + this.jobDurationMs) continue;
      const list = this.lists.get(job.listId);
      if (list && !job.external) {
        const creates = job.operations.filter((o) => o.kind === 'create').map((o) => o.identifiers);
        const removes = job.operations.filter((o) => o.kind === 'remove').map((o) => o.identifiers);
        this.addMembers(list, creates);
        this.removeMembers(list, removes);
      }
      job.status = 'SUCCESS';
      job.finishedAt = now;
    }
  }

  /** A job "another process" runs on the list: the next run on it gets CONCURRENT_MODIFICATION until it ends. */
  startExternalJob(customerId: string, listId: string, durationMs = 60_000): FakeJob {
    const id = this.nextId();
    const job: FakeJob = {
      resourceName: `customers/${customerId}/offlineUserDataJobs/${id}`,
      id,
      customerId,
      listId,
      type: 'CUSTOMER_MATCH_USER_LIST',
      status: 'RUNNING',
      operations: [],
      operationLevelConsent: 0,
      startedAt: Date.now() + durationMs - this.jobDurationMs,
      external: true,
    };
    this.jobs.set(job.resourceName, job);
    return job;
  }
}
