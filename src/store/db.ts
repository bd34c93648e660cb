import knex, { type Knex } from 'knex';
import pg from 'pg';

// bigint counts come back as JS numbers; dates stay ISO strings.
pg.types.setTypeParser(20, (value: string) => Number(value));

export function createDb(connectionString: string, options: { maxConnections?: number } = {}): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString },
    pool: { min: 0, max: options.maxConnections ?? 10 },
  });
}
