import type { Knex } from 'knex';

/** Every change to models or segments notifies listeners (each API process's definition cache). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function audiences_notify_definitions() returns trigger language plpgsql as $$
    begin
      perform pg_notify('audiences_definitions', tg_table_name);
      return null;
    end $$`);
  for (const table of ['models', 'segments']) {
    await knex.raw(`create trigger ${table}_notify after insert or update or delete or truncate on ${table} for each statement execute function audiences_notify_definitions()`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['models', 'segments']) await knex.raw(`drop trigger ${table}_notify on ${table}`);
  await knex.raw('drop function audiences_notify_definitions()');
}
