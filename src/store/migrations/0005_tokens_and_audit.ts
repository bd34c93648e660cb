import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_tokens', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('name').notNullable();
    // SHA-256 of the whole token: tokens are 192 random bits, so a fast hash is enough (no salt, no KDF).
    t.binary('token_hash').notNullable().unique();
    // The first characters, to recognise a token in lists without storing it.
    t.text('prefix').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.uuid('actor_token_id');
    // Token name at the time, or `cli` for commands run on the server.
    t.text('actor').notNullable();
    t.text('action').notNullable();
    t.text('resource_type').notNullable();
    t.text('resource_id');
    t.text('resource_slug');
    t.text('request_id');
    t.jsonb('before');
    t.jsonb('after');
    t.index(['at']);
    t.index(['resource_type', 'resource_id']);
    t.index(['actor_token_id', 'id']);
    t.index(['action', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
  await knex.schema.dropTable('api_tokens');
}
