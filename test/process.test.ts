import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/database.ts';
import { signedBody } from '../src/agora/signature.ts';
import { DAY_LOCK_CLASS } from '../src/statements/statements.repository.ts';
import { onPostgres, openTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './helpers/db.ts';
import { ADMIN, KEY, dayStart } from './helpers/app.ts';
import { startServer, type ServerProcess } from './helpers/server-process.ts';

/** The real process, started as `npm start` starts it, on Postgres. */
describe.runIf(onPostgres)('the server process', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    tdb = await openTestDatabase();
    const url = new URL(TEST_DATABASE_URL!);
    url.searchParams.set('options', `-c search_path=${tdb.schema}`);
    env = {
      DATABASE_URL: url.toString(),
      AGORA_API_KEY: KEY.apiKey,
      AGORA_API_SECRET: KEY.apiSecret,
      ADMIN_TOKEN: ADMIN,
      AGORA_DEADLINE_MS: '10000',
    };
    await tdb.db.insertInto('customers').values({ customer_id: 'c1', plan_id: 'p' }).execute();
    await tdb.db.insertInto('projects').values({ project_id: '1', customer_id: 'c1', app_key: 'k'.repeat(32), app_secret: 's'.repeat(32) }).execute();
  });
  afterAll(async () => {
    await tdb?.close();
  });

  const D = dayStart('2025-06-01');
  const day = Math.floor(D / 86_400);

  function postEvents(server: ServerProcess, events: unknown[]) {
    return fetch(`${server.url}/v1/usage-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
  }

  it('loses no answered event when killed with SIGKILL during ingestion', async () => {
    const server = await startServer(env);
    const answered: string[] = [];
    let batch = 0;
    const sender = async () => {
      for (;;) {
        const ids = Array.from({ length: 50 }, (_, i) => `kill-${batch}-${i}`);
        batch++;
        try {
          const r = await postEvents(server, ids.map((id, i) => ({ id, projectId: 1, quantity: '1', occurredAt: D + i })));
          if (r.status !== 200) continue;
          const body = (await r.json()) as { results: { id: string; status: string }[] };
          for (const x of body.results) if (x.status === 'accepted') answered.push(x.id);
        } catch {
          return; // the process is gone
        }
      }
    };
    const senders = [sender(), sender(), sender()];
    await new Promise((resolve) => setTimeout(resolve, 1500));
    server.child.kill('SIGKILL');
    await Promise.all(senders);
    expect((await server.exited).signal).toBe('SIGKILL');
    expect(answered.length).toBeGreaterThan(50);
    const stored = new Set((await tdb.db.selectFrom('usage_events').select('id').execute()).map((r) => r.id));
    expect(answered.filter((id) => !stored.has(id))).toEqual([]);
  });

  it('finishes the requests in flight on SIGTERM, then closes and exits 0', async () => {
    const server = await startServer(env);
    // Hold the day's lock from outside, so an ingestion for that day is in flight for as long as we like.
    const holder = await openDatabase({ databaseUrl: TEST_DATABASE_URL!, poolSize: 1 });
    try {
      const answer = await holder.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${DAY_LOCK_CLASS}::int, ${day}::int)`.execute(trx);
        const inFlight = postEvents(server, [{ id: 'term-1', projectId: 1, quantity: '2', occurredAt: D + 5 }]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        server.child.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { inFlight }; // wrapped, so the transaction ends (and the lock goes) without awaiting it
      });
      const r = await answer.inFlight;
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).accepted).toBe(1);
      const exit = await server.exited;
      expect(exit.code).toBe(0);
      expect(server.output()).toContain('"event":"stopped"');
      // One JSON log line per request, without secrets.
      const lines = server.output().split('\n').filter((l) => l.includes('"method"'));
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({ method: 'POST', path: '/v1/usage-events', status: 200, ms: expect.any(Number) }),
      ]);
      expect(server.output()).not.toContain(ADMIN);
    } finally {
      await holder.close();
    }
  });

  it('signs provisioning through the real process like Agora does', async () => {
    const server = await startServer(env);
    try {
      const path = '/customers/new';
      const r = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signedBody('POST', path, { customerId: 'c9', planId: 'p', apiKey: KEY.apiKey }, KEY.apiSecret)),
      });
      expect(await r.json()).toEqual({ status: 'success', statusReason: '' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('the server process on the embedded database', () => {
  it('loses no answered event when killed with SIGKILL during ingestion', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = mkdtempSync(join(tmpdir(), 'kill-'));
    const env = { DATA_DIR: dataDir, AGORA_API_KEY: KEY.apiKey, AGORA_API_SECRET: KEY.apiSecret, ADMIN_TOKEN: ADMIN };
    const D = dayStart('2025-06-01');
    const server = await startServer(env);
    const path = '/customers/new';
    const send = (p: string, body: Record<string, unknown>) =>
      fetch(`${server.url}${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signedBody('POST', p, { ...body, apiKey: KEY.apiKey }, KEY.apiSecret)),
      });
    expect((await send(path, { customerId: 'c1', planId: 'p' })).status).toBe(200);
    expect((await send('/customers/c1/projects/new', { projectId: 1 })).status).toBe(200);
    const answered: string[] = [];
    let batch = 0;
    const sender = async () => {
      for (;;) {
        const n = batch++;
        try {
          const r = await fetch(`${server.url}/v1/usage-events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ events: Array.from({ length: 50 }, (_, i) => ({ id: `k-${n}-${i}`, projectId: 1, quantity: '1', occurredAt: D + i })) }),
          });
          const body = (await r.json()) as { results: { id: string; status: string }[] };
          for (const x of body.results) if (x.status === 'accepted') answered.push(x.id);
        } catch {
          return;
        }
      }
    };
    const senders = [sender(), sender()];
    await new Promise((resolve) => setTimeout(resolve, 1500));
    server.child.kill('SIGKILL');
    await Promise.all(senders);
    await server.exited;
    expect(answered.length).toBeGreaterThan(50);
    const reopened = await openDatabase({ dataDir });
    try {
      const stored = new Set((await reopened.db.selectFrom('usage_events').select('id').execute()).map((r) => r.id));
      expect(answered.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
