import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('models', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('slug').notNullable().unique();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.jsonb('definition').notNullable();
    t.integer('version').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('segments', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('slug').notNullable().unique();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.uuid('model_id').notNullable().references('models.id').onDelete('RESTRICT');
    t.jsonb('rule').notNullable();
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.integer('version').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['model_id']);
  });
  await knex.raw('create index segments_tags_idx on segments using gin (tags)');
  await knex.schema.createTable('segment_versions', (t) => {
    t.uuid('segment_id').notNullable().references('segments.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.text('slug').notNullable();
    t.text('name').notNullable();
    t.text('description').notNullable();
    t.uuid('model_id').notNullable().references('models.id').onDelete('RESTRICT');
    t.jsonb('rule').notNullable();
    t.specificType('tags', 'text[]').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['segment_id', 'version']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('segment_versions');
  await knex.schema.dropTable('segments');
  await knex.schema.dropTable('models');
}
