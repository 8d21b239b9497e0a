import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signedBody } from '../src/agora/signature.ts';
import { ADMIN, KEY } from './helpers/app.ts';
import { clearTables, onPostgres, openTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './helpers/db.ts';
import { startReceiver, waitFor, type Receiver } from './helpers/receiver.ts';
import { startServer, stopServer, type ServerProcess } from './helpers/server-process.ts';

/** Real server processes delivering to a real receiver on loopback, on Postgres. */
describe.runIf(onPostgres)('webhook delivery by real processes', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  let rx: Receiver;
  let answerDelayMs = 0;
  const servers: ServerProcess[] = [];

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
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_RETRY_SCHEDULE: '1,1,1,1,1,1,1',
      SCHEDULER_INTERVAL_MS: '600000',
    };
    rx = await startReceiver((_n, _req, res) => {
      setTimeout(() => res.end('ok'), answerDelayMs);
    });
  });
  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await rx?.close();
    await tdb?.close();
  });
  beforeEach(async () => {
    await clearTables(tdb.db);
    rx.received.length = 0;
    answerDelayMs = 0;
    await tdb.db
      .insertInto('webhook_endpoints')
      .values({ id: 'ep_000000000000000000000001', url: rx.url, events: ['*'], description: null, secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}` })
      .execute();
  });

  async function start(): Promise<ServerProcess> {
    const s = await startServer(env);
    servers.push(s);
    return s;
  }

  /** Events as a burst of changes would store them: one transaction. */
  async function storeEvents(n: number, prefix: string): Promise<void> {
    await sql`insert into webhook_events (id, type, data, created_at)
      select ${prefix} || i, 'customer.provisioned', jsonb_build_object('customerId', 'burst-' || i), now() from generate_series(1, ${n}) i`.execute(tdb.db);
  }

  const ids = () => rx.received.map((m) => m.headers['webhook-id']!);

  it('SIGKILL while deliveries are in flight and events are being created: after a restart every event is delivered, none lost', async () => {
    answerDelayMs = 30; // so that deliveries are in flight when the process dies
    const first = await start();
    const answered: string[] = [];
    let n = 0;
    let stop = false;
    const creator = async () => {
      while (!stop) {
        const customerId = `kill-${n++}`;
        const path = '/customers/new';
        try {
          const r = await fetch(`${first.url}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(signedBody('POST', path, { customerId, planId: 'p', apiKey: KEY.apiKey }, KEY.apiSecret)),
          });
          if (r.status === 200) answered.push(customerId);
        } catch {
          return; // the process is gone
        }
      }
    };
    const creators = [creator(), creator(), creator()];
    await waitFor(() => rx.received.length >= 20, 60_000, 'deliveries under way');
    first.child.kill('SIGKILL');
    await Promise.all(creators);
    stop = true;
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(answered.length).toBeGreaterThanOrEqual(20);
    const second = await start();
    try {
      const stored = await tdb.db.selectFrom('webhook_events').select('id').execute();
      await waitFor(async () => {
        const pending = await tdb.db.selectFrom('webhook_deliveries').select('id').where('status', '<>', 'delivered').execute();
        const undispatched = await tdb.db.selectFrom('webhook_events').select('id').where('dispatched', '=', false).execute();
        return pending.length === 0 && undispatched.length === 0;
      }, 120_000, 'every delivery delivered');
      const receivedIds = new Set(ids());
      expect(stored.filter((e) => !receivedIds.has(e.id))).toEqual([]);
      const customers = new Set(rx.received.map((m) => (JSON.parse(m.body) as { data: { customerId: string } }).data.customerId));
      expect(answered.filter((c) => !customers.has(c))).toEqual([]);
      // A duplicate is the same event: same webhook-id, same body.
      const bodies = new Map<string, string>();
      for (const m of rx.received) {
        const id = m.headers['webhook-id']!;
        if (bodies.has(id)) expect(m.body).toBe(bodies.get(id));
        bodies.set(id, m.body);
      }
      console.log(`SIGKILL test: ${answered.length} events answered, ${rx.received.length - receivedIds.size} delivered twice (in flight at the kill)`);
    } finally {
      await stopServer(second);
    }
  }, 400_000);

  it('two instances deliver 10,000 events created in a burst within 60 s, none twice', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    try {
      const started = Date.now();
      await storeEvents(10_000, 'msg_burst_');
      await waitFor(() => new Set(ids()).size >= 10_000, 120_000, '10,000 deliveries');
      const seconds = (Date.now() - started) / 1000;
      console.log(`burst: 10000 events delivered by two instances in ${seconds.toFixed(1)} s`);
      expect(seconds).toBeLessThan(60);
      await waitFor(async () => (await tdb.db.selectFrom('webhook_deliveries').select('id').where('status', '<>', 'delivered').limit(1).execute()).length === 0, 60_000, 'recorded');
      expect(rx.received).toHaveLength(10_000);
    } finally {
      await Promise.all([stopServer(a), stopServer(b)]);
    }
  }, 400_000);
});
