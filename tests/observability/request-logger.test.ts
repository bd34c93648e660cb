import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger';
import { lazyChildLoggerFactory } from '../../src/observability/request-logger';

async function serve(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const logger = createLogger({ level, destination: sink });
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => { children++; return child(...args); }) as typeof logger.child;
  const app = Fastify({ loggerInstance: logger, childLoggerFactory: lazyChildLoggerFactory });
  app.get('/quiet', async () => ({ ok: true }));
  app.get('/warns', async (request) => { request.log.warn({ step: 1 }, 'something odd'); return { ok: true }; });
  await app.ready();
  // Fastify makes children of its own at start; count the requests' only.
  const atStart = children;
  return { app, lines, children: () => children - atStart };
}

it('builds no request logger for a request that logs nothing at the enabled level', async () => {
  const { app, lines, children } = await serve('warn');
  for (let i = 0; i < 5; i++) expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
  expect(children()).toBe(0);
  expect(lines).toEqual([]);
  await app.close();
});

it('writes the same lines, with the request id, when something is logged', async () => {
  const { app, lines, children } = await serve('info');
  const res = await app.inject({ url: '/warns' });
  expect(res.statusCode).toBe(200);
  expect(children()).toBe(1);
  const messages = lines.map((l) => l.msg);
  expect(messages).toEqual(['incoming request', 'something odd', 'request completed']);
  for (const line of lines) expect(line.requestId).toBe(lines[0]!.requestId);
  expect(lines[1]).toMatchObject({ level: 40, step: 1 });
  await app.close();
});
