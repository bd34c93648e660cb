import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors';
import { expectNoSecrets, members, startHarness, type Harness } from './helpers';

let h: Harness | undefined;
afterEach(async () => {
  await h?.fake.close();
  h = undefined;
});

async function withSeed(size: number) {
  h = await startHarness();
  const seed = await h.destination.ensureAudience({ name: 'Seed', identifierKinds: ['email'] });
  if (size > 0) await h.destination.add(seed, members(size));
  return { ...h, seed };
}

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('meta destination: lookalikes', () => {
  it('creates a LOOKALIKE with origin_audience_id and a JSON lookalike_spec', async () => {
    const { destination, fake, seed } = await withSeed(150);
    const remote = await destination.createLookalike({
      name: 'Lookalike DE 1–3 %',
      seedRemoteId: seed.remoteId,
      seedSize: 150,
      meta: { country: 'de', ratio: 0.03, startingRatio: 0.01 },
    });
    expect(remote.remoteId).toMatch(/^[0-9]+$/);
    const create = fake.requestsTo('audiences.create').at(-1)!;
    expect(create.body).toMatchObject({ name: 'Lookalike DE 1–3 %', subtype: 'LOOKALIKE', origin_audience_id: seed.remoteId });
    expect(create.body.lookalike_spec).toEqual({ ratio: 0.03, starting_ratio: 0.01, country: 'DE' });
    expect(fake.audience(remote.remoteId)).toMatchObject({ subtype: 'LOOKALIKE', origin_audience_id: seed.remoteId });

    const status = await destination.getLookalike!(remote.remoteId);
    expect(status).toEqual({ remoteId: remote.remoteId, status: { code: 200, description: 'Normal' } });
  });

  it('supports type and location_spec instead of ratio and country', async () => {
    const { destination, fake, seed } = await withSeed(120);
    await destination.createLookalike({
      name: 'Reach EU',
      seedRemoteId: seed.remoteId,
      seedSize: 120,
      meta: { type: 'reach', locationSpec: { geo_locations: { country_groups: ['europe'] } } },
    });
    expect(fake.requestsTo('audiences.create').at(-1)!.body.lookalike_spec).toEqual({
      type: 'reach',
      location_spec: { geo_locations: { country_groups: ['europe'] } },
    });
  });

  it('refuses a seed under 100 members before calling Meta: 422 naming the numbers', async () => {
    const { destination, fake, seed } = await withSeed(57);
    const before = fake.requests.length;
    const err = await rejection(destination.createLookalike({ name: 'Too small', seedRemoteId: seed.remoteId, seedSize: 57, meta: { country: 'US' } }));
    expect(err).toBeInstanceOf(AppError);
    const app = err as AppError;
    expect(app.status).toBe(422);
    expect(app.message).toBe('seed has 57 members; Meta needs at least 100 in one country');
    expect(app.errors).toEqual([{ pointer: '/seedSize', message: 'seed has 57 members; Meta needs at least 100 in one country' }]);
    expect(fake.requests.length).toBe(before);
  });

  it('maps Meta\'s own "source audience too small" to the same 422', async () => {
    const { destination, seed } = await withSeed(40); // we believe 150, Meta has matched fewer than 100
    const err = await rejection(destination.createLookalike({ name: 'x', seedRemoteId: seed.remoteId, seedSize: 150, meta: { country: 'US' } }));
    expect(err).toBeInstanceOf(AppError);
    const app = err as AppError;
    expect(app.status).toBe(422);
    expect(app.message).toMatch(/we count 150 members in it; Meta needs at least 100 matched people in one country/);
    expect(app.message).toMatch(/source audience you selected is too small/);
    expect(app.errors?.[0]?.pointer).toBe('/seedSize');
    expectNoSecrets(app);
  });

  it.each([
    [{ country: 'US', ratio: 0.25 }, '/meta/ratio'],
    [{ country: 'US', ratio: 0.005 }, '/meta/ratio'],
    [{ country: 'US', ratio: 0.015 }, '/meta/ratio'],
    [{ country: 'US', ratio: 0.05, startingRatio: 0.05 }, '/meta/startingRatio'],
    [{ country: 'US', ratio: 0.05, type: 'similarity' }, '/meta/type'],
    [{ ratio: 0.05 }, '/meta/country'],
    [{ country: 'USA' }, '/meta/country'],
  ])('validates the spec %j → 400 at %s', async (meta, pointer) => {
    const { destination, fake, seed } = await withSeed(0);
    const before = fake.requests.length;
    const err = await rejection(destination.createLookalike({ name: 'x', seedRemoteId: seed.remoteId, seedSize: 500, meta }));
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    expect((err as AppError).errors?.map((e) => e.pointer)).toContain(pointer);
    expect(fake.requests.length).toBe(before);
  });

  it('defaults to a 1 % lookalike when only a country is given', async () => {
    const { destination, fake, seed } = await withSeed(100);
    await destination.createLookalike({ name: 'x', seedRemoteId: seed.remoteId, seedSize: 100, meta: { country: 'FR' } });
    expect(fake.requestsTo('audiences.create').at(-1)!.body.lookalike_spec).toEqual({ ratio: 0.01, country: 'FR' });
  });
});
