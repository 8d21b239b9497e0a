import { sql } from 'kysely';
import { expect } from 'vitest';
import { deferredBillSettings } from '../../src/billing/bill.service.ts';
import type { Db } from '../../src/db/database.ts';
import { buildApp, type TestApp } from './app.ts';

/** Agora's window for a whole month `YYYY-MM`. */
export const monthWindow = (ym: string) => {
  const [y, m] = ym.split('-').map(Number) as [number, number];
  return { fromTs: Date.UTC(y, m - 1, 1) / 1000, toTs: Date.UTC(y, m, 1) / 1000 - 1 };
};

/** One page of a month's bill as Agora asks for it: its status, exact text and parsed body. */
export async function billPage(app: TestApp, ym: string, pageNum: number, limit = 100) {
  const r = await app.agoraGet('/bill', { ...monthWindow(ym), pageNum, limit });
  const text = await r.text();
  return { status: r.status, text, body: r.status === 200 ? JSON.parse(text) : null };
}

/** Every page of a month's bill, in order. */
export async function allBillPages(app: TestApp, ym: string, limit = 100) {
  const texts: string[] = [];
  const entries: any[] = [];
  for (let n = 1; ; n++) {
    const p = await billPage(app, ym, n, limit);
    expect(p.status, p.text).toBe(200);
    texts.push(p.text);
    entries.push(...p.body.data.data);
    if (!p.body.data.hasNext) return { texts, entries, totalSize: p.body.data.totalSize as number };
  }
}

/** The statement row of a month's bill. */
export const billRow = (db: Db, ym: string) =>
  db.selectFrom('statements').selectAll().where('kind', '=', 'bill').where('window_start', '=', new Date(monthWindow(ym).fromTs * 1000)).executeTakeFirstOrThrow();

export const blockCount = async (db: Db, id: string) =>
  Number((await sql<{ n: string }>`select count(*)::text as n from statement_blocks where statement_id = ${id}::bigint`.execute(db)).rows[0]!.n);

/**
 * Forgets bill `ym` as if it had never been asked for (its blocks, the corrections it took, the
 * marks on the late events), and reads it again fixed whole, as before the deferred designs: the
 * reference the deferred fixes are compared with, byte for byte.
 */
export async function wholeFixOfSameData(db: Db, ym: string, limit: number, env: Record<string, string>) {
  const st = await billRow(db, ym);
  await sql`delete from statement_blocks where statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from bill_corrections where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`update usage_events set bill_statement_id = null where bill_statement_id = ${st.id}::bigint`.execute(db);
  await sql`delete from statements where id = ${st.id}::bigint`.execute(db);
  deferredBillSettings.enabled = false;
  try {
    const app = buildApp(db, env);
    const pages = await allBillPages(app, ym, limit);
    const row = await billRow(db, ym);
    expect(row.building).toBe(false);
    expect(row.bill_pricing).toBeNull();
    return { ...pages, row };
  } finally {
    deferredBillSettings.enabled = true;
  }
}
