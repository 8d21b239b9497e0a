import { sql, type Kysely } from 'kysely';

/**
 * No statement line is ever negative or zero: a line is usage (or its price) that happened, and
 * Agora must never be sent a negative amount. Every writer of lines (usage statements, bills) goes
 * through `storeBlocksAndTotal`, whose insert now fails on such a line, so the whole fix rolls back
 * (the request answers 500 `internal`, nothing is stored or sent) and the next request tries again
 * once the cause is repaired. Zero lines are never written (they are left out), so `> 0` holds for
 * every line a correct computation makes.
 *
 * NOT VALID: rows written before this check are not re-read (a database that already sent such a
 * line should still start); every new row is checked.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table statement_blocks
      add constraint statement_block_amounts_positive check (0 < all(amounts)) not valid`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table statement_blocks drop constraint if exists statement_block_amounts_positive`.execute(db);
}
