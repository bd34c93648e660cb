import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('syncs', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('slug').notNullable().unique();
    t.text('name').notNullable();
    t.uuid('segment_id').notNullable().references('segments.id').onDelete('RESTRICT');
    t.uuid('destination_id').notNullable().references('destinations.id').onDelete('RESTRICT');
    t.text('remote_audience_id').notNullable();
    t.jsonb('mapping').notNullable();
    t.jsonb('options').notNullable();
    t.jsonb('schedule');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.integer('version').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('sync_runs', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('sync_id').notNullable().references('syncs.id').onDelete('CASCADE');
    t.text('status').notNullable(); // queued | running | needs_approval | succeeded | failed | cancelled
    t.text('trigger').notNullable(); // api | schedule | after_refresh | approval
    t.text('idempotency_key');
    t.text('reason');
    t.uuid('refresh_run_id');
    t.text('normalizer_version').notNullable();
    t.bigInteger('planned_adds');
    t.bigInteger('planned_removes');
    t.bigInteger('planned_changes');
    t.bigInteger('sent').notNullable().defaultTo(0);
    t.bigInteger('confirmed').notNullable().defaultTo(0);
    t.bigInteger('rejected').notNullable().defaultTo(0);
    t.bigInteger('failed').notNullable().defaultTo(0);
    t.integer('requests').notNullable().defaultTo(0);
    t.integer('retries').notNullable().defaultTo(0);
    t.jsonb('identifier_rejections').notNullable().defaultTo('{}');
    t.jsonb('timings').notNullable().defaultTo('{}');
    t.text('error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('started_at', { useTz: true });
    t.timestamp('approved_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    t.unique(['sync_id', 'idempotency_key']);
    t.index(['sync_id', 'created_at']);
  });
  await knex.schema.createTable('sync_rejections', (t) => {
    t.bigIncrements('id');
    t.uuid('run_id').notNullable().references('sync_runs.id').onDelete('CASCADE');
    t.text('member_key').notNullable();
    t.text('op').notNullable();
    t.text('reason').notNullable();
    t.text('detail');
    t.index(['run_id', 'id']);
  });
  await knex.schema.createTable('lookalikes', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('sync_id').notNullable().references('syncs.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('remote_id').notNullable();
    t.jsonb('spec').notNullable();
    t.integer('seed_size').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('lookalikes');
  await knex.schema.dropTable('sync_rejections');
  await knex.schema.dropTable('sync_runs');
  await knex.schema.dropTable('syncs');
}
