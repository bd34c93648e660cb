/**
 * The baseline of the load benchmark: the same fastify as the service, default options (logger
 * off), one route `GET /bare` answering a JSON object, no schema, no hooks, no plugins. Started as
 * its own process by tests/bench/load/run.ts.
 *
 * The object is read from BARE_PAYLOAD_FILE (run.ts writes the service's own first page of
 * GET /v1/segments there, so both answer the same bytes); without it, a synthesized object of a
 * few KB. Listens on 127.0.0.1:PORT (0: any free port) and prints "bare is ready on port N".
 */
import fs from 'node:fs';
import Fastify from 'fastify';

const payload: unknown = process.env.BARE_PAYLOAD_FILE
  ? JSON.parse(fs.readFileSync(process.env.BARE_PAYLOAD_FILE, 'utf8'))
  : {
      data: Array.from({ length: 7 }, (_, i) => ({
        id: `00000000-0000-4000-8000-00000000000${i}`,
        slug: `segment-${i}`,
        name: `Segment ${i}`,
        description: 'A segment of the demo shop used as a stand-in payload for the bare baseline.',
        model: 'customers',
        rule: { and: [{ '==': [{ var: 'country' }, 'DE'] }, { '>': [{ var: 'ltv' }, 300] }] },
        tags: ['demo'],
        version: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      })),
      nextCursor: null,
    };

const app = Fastify();
app.get('/bare', async () => payload);

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`bare is ready on port ${new URL(address).port}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    app.server.closeAllConnections();
    void app.close().then(() => process.exit(0));
  });
}
