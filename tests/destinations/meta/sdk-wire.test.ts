import { CustomAudience } from 'facebook-nodejs-business-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { newGraphApi, runWithGraph } from '../../../src/destinations/meta/graph-seam';
import { GraphApiFake } from '../../fakes/graph-api-fake';
import { TOKEN, members, sha } from './helpers';

/**
 * What the SDK itself puts on the wire (pinned, so an SDK upgrade that changes it fails here):
 * POST parameters go in a JSON body with the token in the query string; DELETE parameters —
 * including the whole payload — go in the query string, which is why `remove` does not use
 * `CustomAudience.deleteUsers`.
 */
let fake: GraphApiFake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start() {
  fake = new GraphApiFake();
  await fake.start();
  fake.addAccount({ id: 'act_1' });
  const audience = fake.addAudience({ account_id: '1' });
  const api = newGraphApi(TOKEN);
  const ctx = { baseUrl: fake.url, version: 'v24.0' };
  return { fake, audience, api, ctx };
}

describe('facebook-nodejs-business-sdk wire format', () => {
  it('createUser: POST with a JSON body {payload, session, id}; token in the URL', async () => {
    const { fake, audience, api, ctx } = await start();
    const payload = { schema: ['EMAIL'], data: [[sha('a')], [sha('b')]] };
    const result = await runWithGraph(ctx, () =>
      new CustomAudience(audience.id, undefined, undefined, api).createUser([], { payload, session: { session_id: 7, batch_seq: 1, last_batch_flag: true } }),
    );
    expect(result.exportAllData()).toMatchObject({ audience_id: audience.id, num_received: 2, num_invalid_entries: 0, invalid_entry_samples: {} });
    const [req] = fake.requestsTo('users.add');
    expect(req!.contentType).toMatch(/^application\/json/);
    expect(req!.query).toEqual({ access_token: TOKEN });
    // The SDK also merges the object's own id into the body.
    expect(req!.body).toEqual({ payload, session: { session_id: 7, batch_seq: 1, last_batch_flag: true }, id: audience.id });
  });

  it('deleteUsers: DELETE with everything in the query string (≈ 790 KB of URL for 10,000 rows)', async () => {
    const { fake, audience, api, ctx } = await start();
    const rows = members(200).map((m) => [m.identifiers.email!]);
    await runWithGraph(ctx, () => new CustomAudience(audience.id, undefined, undefined, api).deleteUsers({ payload: { schema: ['EMAIL'], data: rows } }));
    const [req] = fake.requestsTo('users.remove');
    expect(req!.body).toEqual({}); // axios sends an empty JSON object as the body
    expect(JSON.parse(req!.query.payload!)).toEqual({ schema: ['EMAIL'], data: rows });
    // 200 rows already make a ~20 KB URL; per row ≈ 79 bytes once encoded → ≈ 790 KB at 10,000.
    const perRow = req!.urlLength / 200;
    expect(perRow).toBeGreaterThan(75);
    expect(perRow * 10_000).toBeGreaterThan(750_000);
  });
});
