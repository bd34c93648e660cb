import { parseArgs } from 'node:util';
import type { AuditContext } from '../audit/audit-log';
import { SCOPES, type Scope } from './scopes';
import type { TokensService } from './tokens-service';

export class TokenUsageError extends Error {}

export const TOKEN_USAGE = `  token create --name NAME --scopes read,write,run,admin [--expires-in-days N]
                             create an API token and print it (shown this once)
  token list [--all]         list tokens (never their secrets); --all includes revoked ones
  token revoke ID            revoke a token`;

const CLI_AUDIT: AuditContext = { actor: { tokenId: null, name: 'cli' } };

export type TokenCommand =
  | { kind: 'create'; name: string; scopes: Scope[]; expiresAt?: Date }
  | { kind: 'list'; includeRevoked: boolean }
  | { kind: 'revoke'; id: string };

/** Arguments → command, before anything is opened: usage errors are instant. */
export function parseTokenCommand(args: string[]): TokenCommand {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, scopes: { type: 'string' }, 'expires-in-days': { type: 'string' } } });
    if (!values.name) throw new TokenUsageError('token create needs --name NAME');
    const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (!scopes.length || unknown.length) throw new TokenUsageError(`--scopes must list some of ${SCOPES.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
    if (values['expires-in-days'] === undefined) return { kind: 'create', name: values.name, scopes: scopes as Scope[] };
    const days = Number(values['expires-in-days']);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new TokenUsageError('--expires-in-days must be an integer from 1 to 3650');
    return { kind: 'create', name: values.name, scopes: scopes as Scope[], expiresAt: new Date(Date.now() + days * 86_400_000) };
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { all: { type: 'boolean', default: false } } });
    return { kind: 'list', includeRevoked: values.all ?? false };
  }
  if (sub === 'revoke') {
    if (rest.length !== 1) throw new TokenUsageError('token revoke takes one token id');
    return { kind: 'revoke', id: rest[0]! };
  }
  throw new TokenUsageError('token takes create, list or revoke');
}

/** `audiences token …`: runs on the server against the metadata database, so it works before any token exists. */
export async function runTokenCommand(command: TokenCommand, deps: { tokens: TokensService; log: (line: string) => void }): Promise<void> {
  if (command.kind === 'create') {
    const created = await deps.tokens.create({ name: command.name, scopes: command.scopes, createdBy: 'cli', ...(command.expiresAt ? { expiresAt: command.expiresAt } : {}) }, { audit: CLI_AUDIT });
    const { token } = created;
    // The token alone on stdout, so `$(audiences token create …)` captures it; the rest on stderr.
    process.stderr.write(`created token "${created.name}" (${created.id}) with scopes ${created.scopes.join(', ')}${created.expiresAt ? `, expires ${created.expiresAt}` : ''}; it is shown this once:\n`);
    deps.log(token);
    return;
  }
  if (command.kind === 'list') {
    let cursor: string | undefined;
    do {
      const page = await deps.tokens.list({ limit: 200, includeRevoked: command.includeRevoked, ...(cursor ? { cursor } : {}) });
      for (const t of page.data) {
        deps.log([t.id, t.prefix.padEnd(12), t.name.padEnd(20), t.scopes.join(','), t.revokedAt ? `revoked ${t.revokedAt}` : t.expiresAt ? `expires ${t.expiresAt}` : '', t.lastUsedAt ? `last used ${t.lastUsedAt}` : 'never used'].filter(Boolean).join('  '));
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return;
  }
  const after = await deps.tokens.revoke(command.id, { audit: CLI_AUDIT });
  deps.log(`revoked token "${after.name}" (${after.id})`);
}
