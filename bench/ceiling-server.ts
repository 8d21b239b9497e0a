import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/database.ts';
import { keepConnectionsForLoadBalancers } from '../src/http/node-server.ts';

/**
 * The ceilings of the throughput scenario: a bare Hono app on the same Node HTTP server as the real
 * server. `/json` answers a fixed JSON body, the most any endpoint could do on this machine; `/`
 * answers from `select 1` on the same Postgres and pool, the most any endpoint that asks the
 * database could do; `/page` answers the bytes of the file PAGE_BODY_FILE (a real page of the
 * server's, fetched by the scenario), what no endpoint sending that many bytes could beat.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is required');
const database = await openDatabase({ databaseUrl: url });
const app = new Hono();
const FIXED = { status: 0, statusReason: 'ok', data: 1 };
app.get('/json', (c) => c.json(FIXED));
const pageFile = process.env.PAGE_BODY_FILE;
const PAGE = pageFile === undefined ? new Uint8Array() : new Uint8Array(readFileSync(pageFile));
app.get('/page', () => new Response(PAGE, { headers: { 'content-type': 'application/json; charset=utf-8' } }));
app.get('/', async (c) => {
  const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
  return c.json({ status: 0, statusReason: 'ok', data: rows[0]!.one });
});
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${info.port}` })}\n`);
});
// The real server's keep-alive settings: at Node's default (5 s) a paced client reusing a
// connection the server is just closing counts an error the server under test would not see.
keepConnectionsForLoadBalancers(server);
process.on('SIGTERM', () => {
  server.close(() => void database.close().then(() => process.exit(0)));
  setTimeout(() => process.exit(1), 5000).unref();
});
