import fs from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  DestinationError, type AudienceStats, type BatchContext, type BatchResult, type ConnectionCheck, type Destination, type DestinationKind,
  type EnsureAudienceInput, type PreparedMember, type RemoteAudience,
} from '../destination';

export const FileDestinationConfigSchema = Type.Object({
  directory: Type.String({
    minLength: 1, maxLength: 200, pattern: '^(?!/)(?!.*(?:^|/)\\.\\.?(?:/|$))[A-Za-z0-9._/-]+$',
    description: 'Directory for the files, relative to the service\'s export root (FILE_DESTINATION_ROOT); no `..`.',
    examples: ['demo-exports'],
  }),
  normalizeFor: Type.Optional(Type.Union([Type.Literal('meta'), Type.Literal('google')], {
    default: 'meta', description: 'Whose normalization and hashing rules the files follow (so they can be uploaded there).',
  })),
}, { $id: 'FileDestinationConfig', additionalProperties: false, title: 'File destination configuration' });
export type FileDestinationConfig = Static<typeof FileDestinationConfigSchema>;

export const NoCredentialsSchema = Type.Object({}, { $id: 'NoCredentials', additionalProperties: false, title: 'No credentials' });

const AUDIENCE_ID = /^[a-z0-9][a-z0-9_-]{0,99}$/;

/** A name as a directory name: lowercase letters, digits, `-` and `_`. */
const audienceIdOf = (name: string): string => name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100) || 'audience';

/**
 * Hashed adds and removes as NDJSON files, one pair per run (the batch session id), under
 * `<root>/<directory>/<audience>/`. Only the hashed (or platform-normalized) identifiers are
 * written — never member keys or raw values. Appends are per batch, so a crash leaves whole lines.
 */
class FileDestination implements Destination {
  readonly kind = 'file';
  readonly platform = 'file' as const;
  readonly limits = { maxBatchSize: 10_000, maxConcurrency: 1, requestsPerSecond: 1_000 };
  private readonly base: string;

  constructor(root: string, private readonly config: FileDestinationConfig) {
    this.base = path.resolve(root, config.directory);
    if (!this.base.startsWith(path.resolve(root) + path.sep)) throw new DestinationError('invalid_request', 'the directory must stay inside the export root', { platform: 'file' });
  }

  get normalizeFor(): 'meta' | 'google' { return this.config.normalizeFor ?? 'meta'; }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      await fs.mkdir(this.base, { recursive: true });
      await fs.access(this.base, fs.constants.W_OK);
      return { ok: true, detail: `directory ${this.config.directory} is writable` };
    } catch (error) {
      return { ok: false, detail: `directory ${this.config.directory} is not writable: ${(error as NodeJS.ErrnoException).code ?? 'error'}` };
    }
  }

  async ensureAudience(input: EnsureAudienceInput): Promise<RemoteAudience> {
    if (input.existingId !== undefined) {
      if (!AUDIENCE_ID.test(input.existingId)) throw new DestinationError('invalid_request', `"${input.existingId}" is not a file audience id`, { platform: 'file' });
      const stat = await fs.stat(path.join(this.base, input.existingId)).catch(() => undefined);
      if (!stat?.isDirectory()) throw new DestinationError('permanent', `file audience "${input.existingId}" does not exist`, { platform: 'file', code: 'not_found' });
      return { remoteId: input.existingId, created: false };
    }
    const remoteId = audienceIdOf(input.name);
    const created = await fs.mkdir(path.join(this.base, remoteId), { recursive: true }).then((first) => first !== undefined);
    return { remoteId, created, name: input.name };
  }

  add(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.append(audience, 'add', members, context);
  }

  remove(audience: { remoteId: string }, members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    return this.append(audience, 'remove', members, context);
  }

  private async append(audience: { remoteId: string }, op: 'add' | 'remove', members: PreparedMember[], context?: BatchContext): Promise<BatchResult> {
    if (!AUDIENCE_ID.test(audience.remoteId)) throw new DestinationError('invalid_request', 'not a file audience id', { platform: 'file' });
    if (members.length > this.limits.maxBatchSize) throw new DestinationError('invalid_request', `at most ${this.limits.maxBatchSize} members per batch`, { platform: 'file' });
    const run = context?.session?.id.replace(/[^A-Za-z0-9_-]/g, '') || `adhoc-${new Date().toISOString().slice(0, 10)}`;
    const file = path.join(this.base, audience.remoteId, `${run}.${op === 'add' ? 'adds' : 'removes'}.ndjson`);
    const lines = members.map((m) => JSON.stringify({ op, identifiers: m.identifiers, ...(m.consent ? { consent: m.consent } : {}) }) + '\n').join('');
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.appendFile(file, lines, 'utf8');
    } catch (error) {
      throw new DestinationError('retryable', `could not write ${path.basename(file)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { platform: 'file' });
    }
    return { received: members.length, invalid: 0, rejected: [] };
  }

  /** Size = adds − removes over all files (the audience as the files describe it; re-sent adds count twice). */
  async audienceStats(audience: { remoteId: string }): Promise<AudienceStats> {
    if (!AUDIENCE_ID.test(audience.remoteId)) throw new DestinationError('invalid_request', 'not a file audience id', { platform: 'file' });
    const dir = path.join(this.base, audience.remoteId);
    const files = await fs.readdir(dir).catch(() => undefined);
    if (!files) throw new DestinationError('permanent', `file audience "${audience.remoteId}" does not exist`, { platform: 'file', code: 'not_found' });
    const members = new Set<string>();
    // Runs in the order their files were last written; within a run, adds then removes.
    const ordered = await Promise.all(files.filter((f) => f.endsWith('.ndjson')).map(async (name) => ({ name, mtime: (await fs.stat(path.join(dir, name))).mtimeMs })));
    ordered.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name));
    for (const { name } of ordered) {
      for (const line of (await fs.readFile(path.join(dir, name), 'utf8')).split('\n')) {
        if (!line) continue;
        const { op, identifiers } = JSON.parse(line) as { op: string; identifiers: unknown };
        const key = JSON.stringify(identifiers);
        if (op === 'add') members.add(key);
        else members.delete(key);
      }
    }
    return { remoteId: audience.remoteId, approximateSize: { lower: members.size, upper: members.size } };
  }

  async createLookalike(): Promise<never> {
    throw new DestinationError('invalid_request', 'file destinations have no lookalikes', { platform: 'file', code: 'unsupported' });
  }
}

export function fileDestinationKind(options: { root: string }): DestinationKind<FileDestinationConfig, Record<string, never>> {
  return {
    kind: 'file',
    platform: 'file',
    description: 'Hashed adds and removes as NDJSON files per run, under the service\'s export root. The embedded demo\'s destination; useful for audits and hand-offs.',
    configSchema: FileDestinationConfigSchema,
    credentialsSchema: NoCredentialsSchema,
    create: ({ config }) => new FileDestination(options.root, config),
  };
}
