import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('refresh_runs', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('segment_id').notNullable().references('segments.id').onDelete('CASCADE');
    t.integer('segment_version').notNullable();
    t.text('status').notNullable(); // running | succeeded | failed
    t.timestamp('as_of', { useTz: true }).notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
    t.bigInteger('size');
    t.bigInteger('entered');
    t.bigInteger('exited');
    t.integer('duration_ms');
    t.text('snapshot_table');
    t.text('sql').notNullable();
    t.jsonb('params').notNullable();
    t.text('error');
    t.index(['segment_id', 'started_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('refresh_runs');
}
