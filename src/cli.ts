import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DIALECTS, type DialectName } from './compiler/dialects/dialect';
import { ConfigError, loadConfig } from './config';
import { AppError } from './errors';
import { parseTokenCommand, runTokenCommand, TOKEN_USAGE, TokenUsageError } from './auth/token-command';
import type { openRuntime } from './runtime';

// Each command imports what it needs when it runs: the service's modules take about a second to
// load, which `normalize`, `compile` and `--help` should not wait for.
const server = () => import('./server');
const asCode = async () => ({ ...await import('./as-code/apply'), ...await import('./as-code/export'), ...await import('./as-code/load-definitions') });

const USAGE = `usage: audiences <command> [options]

commands:
  serve [--no-workers]       run the API and the job workers (embedded Postgres unless DATABASE_URL is set)
  worker                     run only the job workers (scheduled syncs and refreshes) against DATABASE_URL
                             or the embedded Postgres of a running serve
  migrate                    apply metadata store migrations
  apply DIR [--dry-run] [--prune]
                             create or update the models, segments, destinations and syncs defined in DIR, by slug;
                             credentials come from the environment variables the files name ({"env": "NAME"});
                             --dry-run prints the plan and writes nothing; --prune also deletes what the service
                             holds and DIR does not (without it, those are listed and kept)
  export DIR [--force]       write the service's definitions to DIR, one file each (credentials as environment
                             references; prints the variables apply needs); --force replaces DIR's definition files
  compile --model FILE --rule FILE [--dialect postgres|duckdb|bigquery] [--as-of ISO] [--format json|sql]
                             print the SQL a rule compiles to (the rule file may be a segment file)
  openapi [--out DIR]        write openapi.json and openapi.yaml (default: openapi/)
  schemas [--out DIR]        write the JSON Schemas of definition files (default: segments/schema/)
${TOKEN_USAGE}
  normalize --platform meta|google --field KIND [--region US] VALUE...
                             print each value normalized and hashed as the platform wants it, one JSON line per value
`;

const log = (line: string) => console.log(line);

/**
 * Signals: the first SIGINT/SIGTERM/SIGHUP runs the registered cleanup (in-flight requests finish,
 * pools close, then the embedded Postgres stops) and exits; a second one exits at once.
 */
const cleanups: Array<() => Promise<void>> = [];
let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) process.exit(130);
  stopping = true;
  log(`${signal}: stopping…`);
  void (async () => {
    let code = 0;
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        console.error('audiences: error while stopping:', error instanceof Error ? error.message : error);
        code = 1;
      });
    }
    log('stopped');
    process.exit(code);
  })();
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'no-workers': { type: 'boolean', default: false } } });
  const config = loadConfig();
  const { startService } = await server();
  const service = await startService(values['no-workers'] ? { ...config, workers: false } : config, { log });
  cleanups.push(() => service.stop());
  // A signal during startup: it was waiting for the service to exist.
  if (stopping) await service.stop();
}

async function withRuntime<T>(work: (runtime: Awaited<ReturnType<typeof openRuntime>>) => Promise<T>, options: { log?: (line: string) => void } = {}): Promise<T> {
  // Next to a running `serve`, commands attach to its embedded Postgres instead of starting another.
  const { openRuntime } = await import('./runtime');
  const runtime = await openRuntime(loadConfig(), { log: options.log ?? log, attachToRunningEmbedded: true });
  cleanups.push(() => runtime.close());
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return -1; // keeps running
    case 'worker': {
      const { startWorker } = await server();
      const worker = await startWorker(loadConfig(), { log });
      cleanups.push(() => worker.stop());
      if (stopping) await worker.stop();
      return -1;
    }
    case 'migrate':
      await withRuntime(async () => log('metadata store is up to date'));
      return 0;
    case 'apply': {
      const { values, positionals } = parseArgs({
        args: rest, allowPositionals: true, options: { 'dry-run': { type: 'boolean', default: false }, prune: { type: 'boolean', default: false } },
      });
      if (positionals.length !== 1) throw new UsageError('apply takes one directory');
      const dir = path.resolve(positionals[0]!);
      const dryRun = values['dry-run'] ?? false;
      const { applyDirectory, dirLabel, formatPlan } = await asCode();
      await withRuntime(async (runtime) => {
        const plan = await applyDirectory({
          dir, dryRun, prune: values.prune ?? false, services: runtime, defaultSchema: runtime.warehouse.defaultSchema,
          audit: { actor: { tokenId: null, name: 'cli:apply' } },
        });
        log(formatPlan(plan, { dryRun, dir: dirLabel(dir) }));
      });
      return 0;
    }
    case 'export': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { force: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError('export takes one directory');
      const dir = path.resolve(positionals[0]!);
      const { exportDirectory, dirLabel } = await asCode();
      await withRuntime(async (runtime) => {
        const result = await exportDirectory({ dir, force: values.force ?? false, services: runtime, defaultSchema: runtime.warehouse.defaultSchema });
        log(`wrote ${result.files.length} definition files to ${dirLabel(dir)}`);
        if (result.envVars.length) {
          log('apply reads destination credentials from these environment variables; set them before `audiences apply`:');
          for (const v of result.envVars) log(`  ${v.name}  (destination ${v.destination}, ${v.field})`);
        }
      });
      return 0;
    }
    case 'token': {
      const tokenCommand = parseTokenCommand(rest);
      // Startup messages on stderr: stdout carries only what the command prints (the token itself for create).
      await withRuntime((runtime) => runTokenCommand(tokenCommand, { tokens: runtime.tokens, log }), { log: (line) => console.error(line) });
      return 0;
    }
    case 'compile': {
      const { values } = parseArgs({
        args: rest,
        options: {
          model: { type: 'string' }, rule: { type: 'string' }, dialect: { type: 'string', default: 'postgres' },
          'as-of': { type: 'string' }, format: { type: 'string', default: 'json' },
        },
      });
      if (!values.model || !values.rule) throw new UsageError('compile needs --model FILE and --rule FILE');
      if (!(DIALECTS as readonly string[]).includes(values.dialect!)) throw new UsageError(`--dialect must be one of ${DIALECTS.join(', ')}`);
      if (values.format !== 'json' && values.format !== 'sql') throw new UsageError('--format must be json or sql');
      const asOf = values['as-of'] === undefined ? new Date() : new Date(values['as-of']);
      if (Number.isNaN(asOf.getTime())) throw new UsageError('--as-of must be an ISO-8601 time');
      const { compileFiles } = await import('./as-code/compile-files');
      const compiled = await compileFiles({ modelFile: values.model, ruleFile: values.rule, dialect: values.dialect as DialectName, asOf });
      for (const warning of compiled.warnings) console.error(`warning: ${warning}`);
      if (values.format === 'sql') log(compiled.sql);
      else log(JSON.stringify({ sql: compiled.sql, params: compiled.params }, null, 2));
      return 0;
    }
    case 'openapi': {
      const { values } = parseArgs({ args: rest, options: { out: { type: 'string', default: 'openapi' } } });
      const out = path.resolve(values.out ?? 'openapi');
      const { generateOpenApi, openApiJson, openApiYaml } = await import('./api/generate-openapi');
      const document = await generateOpenApi();
      await fs.mkdir(out, { recursive: true });
      await fs.writeFile(path.join(out, 'openapi.json'), openApiJson(document));
      await fs.writeFile(path.join(out, 'openapi.yaml'), openApiYaml(document));
      log(`wrote ${path.relative(process.cwd(), out) || '.'}/openapi.json and openapi.yaml`);
      return 0;
    }
    case 'schemas': {
      const { values } = parseArgs({ args: rest, options: { out: { type: 'string', default: 'segments/schema' } } });
      const out = path.resolve(values.out ?? 'segments/schema');
      await fs.mkdir(out, { recursive: true });
      const { segmentFileSchemas } = await import('./as-code/file-schemas');
      for (const [name, schema] of Object.entries(segmentFileSchemas())) await fs.writeFile(path.join(out, name), `${JSON.stringify(schema, null, 2)}\n`);
      log(`wrote JSON Schemas to ${path.relative(process.cwd(), out)}`);
      return 0;
    }
    case 'normalize': {
      let parsed;
      try {
        parsed = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { platform: { type: 'string' }, field: { type: 'string' }, region: { type: 'string', default: 'US' } },
        });
      } catch (error) {
        throw new UsageError(`normalize: ${error instanceof Error ? error.message : error}`);
      }
      const { values, positionals } = parsed;
      // Pure: no runtime, no database.
      const identity = await import('./destinations/identity/index');
      const { IDENTIFIER_KINDS } = await import('./destinations/destination');
      const platform = values.platform as (typeof identity.IDENTITY_PLATFORMS)[number];
      if (!identity.IDENTITY_PLATFORMS.includes(platform)) throw new UsageError(`--platform must be one of ${identity.IDENTITY_PLATFORMS.join(', ')}`);
      const field = values.field as (typeof IDENTIFIER_KINDS)[number];
      if (!IDENTIFIER_KINDS.includes(field)) throw new UsageError(`--field must be one of ${IDENTIFIER_KINDS.join(', ')}`);
      if (positionals.length === 0) throw new UsageError('normalize takes at least one VALUE');
      const region = values.region ?? 'US';
      if (!identity.phoneRegion(region)) throw new UsageError(`--region must be an ISO 3166-1 alpha-2 code with a phone numbering plan, e.g. US (got "${region}")`);
      for (const input of positionals) {
        const prepared = identity.prepareIdentifier(platform, field, input, { defaultRegion: region });
        if (!prepared.ok) log(JSON.stringify({ input, rejected: prepared.reason }));
        else if (!prepared.hashed) log(JSON.stringify({ input, normalized: prepared.normalized, value: prepared.value }));
        else log(JSON.stringify({ input, normalized: prepared.normalized, hash: prepared.value, ...(prepared.prehashed ? { prehashed: true } : {}) }));
      }
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exit(code); },
  async (error: unknown) => {
    if (error instanceof UsageError || error instanceof TokenUsageError) {
      console.error(`audiences: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    const { PartialApplyError, DefinitionFileError, formatPlan } = await asCode();
    if (error instanceof PartialApplyError) {
      // Some writes succeeded before one failed: say which, then why.
      if (error.applied.length) console.error(`audiences: applied before the failure:\n${formatPlan(error.applied, { dryRun: false }).split('\n').slice(0, -1).join('\n')}`);
      error = error.failure;
    }
    if (error instanceof ConfigError) console.error(`audiences: configuration: ${error.message}`);
    else if (error instanceof DefinitionFileError) {
      console.error(`audiences: ${error.file}:`);
      for (const problem of error.errors ?? []) console.error(`  ${problem.pointer !== undefined ? `${problem.pointer || '/'}: ` : ''}${problem.message}`);
    } else if (error instanceof AppError) {
      console.error(`audiences: ${error.message}`);
      for (const problem of error.errors ?? []) console.error(`  ${problem.pointer ?? problem.parameter ?? ''} ${problem.message}`);
    } else console.error('audiences:', error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
