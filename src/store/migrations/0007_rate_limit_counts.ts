import type { Knex } from 'knex';

/**
 * Rate-limit counts shared by the API processes: one row per hashed key (token or client address,
 * and route group) and fixed window. Unlogged: counts lost in a crash only reset a minute's budget.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create unlogged table rate_limit_counts (
      key text not null,
      window_start bigint not null,
      count integer not null,
      primary key (key, window_start)
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table rate_limit_counts');
}
