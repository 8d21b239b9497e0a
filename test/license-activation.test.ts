import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { adminJson, COMMERCIAL_PID, licenseClient, licenseWorld, projectCredentials, TRIAL_PID, type Answer } from './helpers/license.ts';
import { onPostgres } from './helpers/db.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Activation is one call of `license_activate` (migrations/20261123080000-activation.ts): each
 * refusal comes back as an outcome the service maps to the error the separate statements raised
 * before, in the same order of checks, and a refused activation writes nothing.
 */
const ctx = setupTestApp({ env: { LICENSE_RATE_LIMIT: '0' } });

afterEach(() => {
  vi.restoreAllMocks();
});

async function tables() {
  const db = ctx.tdb.db;
  return {
    licenses: await db.selectFrom('licenses').selectAll().orderBy('id').execute(),
    pools: await db.selectFrom('license_pools').selectAll().orderBy('customer_id').orderBy('pid').orderBy('project_id').execute(),
  };
}

function refused(r: Answer, status: number, error: string, message: string) {
  expect(r.status).toBe(status);
  expect(r.body).toEqual({ code: status, message, data: null, error });
}

/**
 * Every query this process sends to the database, at the driver: BEGIN and COMMIT count too.
 * Only the request under test runs while counting (tests of a file run one after another).
 */
/**
 * Counts the statements sent from here on. The log of Agora's requests (the world is provisioned
 * through Agora's calls) is written first: its batch, flushed by a timer, is not the request's.
 */
async function countQueries(): Promise<{ sql: string[] }> {
  await ctx.t.app.agoraLog.flush();
  const seen = { sql: [] as string[] };
  const record = (q: unknown) => seen.sql.push(typeof q === 'string' ? q : String((q as { text?: unknown }).text ?? q));
  if (onPostgres) {
    const query = pg.Client.prototype.query;
    vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      record(args[0]);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query);
  } else {
    for (const method of ['query', 'exec'] as const) {
      const original = PGlite.prototype[method];
      vi.spyOn(PGlite.prototype, method).mockImplementation(function (this: PGlite, ...args: unknown[]) {
        record(args[0]);
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original);
    }
  }
  return seen;
}


describe('every refusal through the one call, with its code and message, changing nothing', () => {
  it('unknown project, another customer’s project, a deactivated project, an unknown PID', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    const before = await tables();
    refused(await w.p101.activate('999', TRIAL_PID, 'dev-1'), 404, 'unknown_project', 'Project 999 is not provisioned');
    refused(
      await w.p101.activate('201', TRIAL_PID, 'dev-1'),
      403,
      'project_forbidden',
      "Project 201 belongs to another customer; these credentials reach only their own customer's projects",
    );
    refused(await w.p101.activate('101', 'NO-SUCH-PID', 'dev-1'), 404, 'unknown_pid', 'No PID NO-SUCH-PID');
    // The project is checked before the PID: another customer's project with an unknown PID is 403.
    refused(
      await w.p101.activate('201', 'NO-SUCH-PID', 'dev-1'),
      403,
      'project_forbidden',
      "Project 201 belongs to another customer; these credentials reach only their own customer's projects",
    );
    const d = await ctx.t.agoraSend('PUT', '/customers/c1/projects/102/deactivate', {});
    expect(d.status).toBe(200);
    // Project 101's credentials still work; project 102 cannot change, whatever else is wrong.
    refused(await w.p101.activate('102', TRIAL_PID, 'dev-1'), 403, 'project_inactive', 'Project 102 is deactivated; enable the extension for it again first');
    refused(await w.admin.activate('102', 'NO-SUCH-PID', 'dev-1'), 403, 'project_inactive', 'Project 102 is deactivated; enable the extension for it again first');
    expect(await tables()).toEqual(before);
  });

  it('not pre-authorized; a repeat is answered whatever the whitelist says now', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await w.p101.post('/v2/vendor/pad/switch', { appid: '101', enabled: 'true' })).status).toBe(200);
    const before = await tables();
    refused(
      await w.p101.activate('101', TRIAL_PID, 'dev-1'),
      403,
      'not_preauthorized',
      'Pre-authorization is on for project 101 and licenseKey dev-1 is not on its whitelist',
    );
    expect(await tables()).toEqual(before);
    expect((await w.p101.post('/v2/pad/add', { appid: '101', licenseKey: 'dev-1' })).status).toBe(200);
    const first = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    expect(first.status).toBe(200);
    expect((await w.p101.post('/v2/pad/clear', { appid: '101' })).status).toBe(200);
    const again = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(first.body.data);
    // Only project 101's switch is on: project 102 of the same customer activates without a list.
    expect((await w.p102.activate('102', TRIAL_PID, 'dev-2')).status).toBe(200);
  });

  it('quota used up: names the pools, takes the own pool first, writes nothing; a repeat still answers', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    refused(
      await w.p101.activate('101', COMMERCIAL_PID, 'dev-1'),
      403,
      'quota_exhausted',
      `Customer c1 holds no licenses of PID ${COMMERCIAL_PID}`,
    );
    expect((await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1 })).status).toBe(200);
    // The project's own license first, then the two shared ones.
    for (const k of ['dev-1', 'dev-2', 'dev-3']) expect((await w.p101.activate('101', TRIAL_PID, k)).status).toBe(200);
    const quotas = await adminJson(ctx.t, 'GET', '/v1/license-quotas?customerId=c1');
    expect(JSON.stringify(quotas.body.data)).toContain('"used":1');
    const before = await tables();
    refused(
      await w.p101.activate('101', TRIAL_PID, 'dev-4'),
      403,
      'quota_exhausted',
      `No license of PID ${TRIAL_PID} is left for project 101: the 1 allocated to project 101 are used and the 2 shared are used`,
    );
    refused(await w.p102.activate('102', TRIAL_PID, 'dev-4'), 403, 'quota_exhausted', `No license of PID ${TRIAL_PID} is left for project 102: the 2 shared are used`);
    expect(await tables()).toEqual(before);
    // A repeat from another project of the customer answers the license it has and takes nothing.
    const again = await w.p102.activate('102', TRIAL_PID, 'dev-2');
    expect(again.status).toBe(200);
    expect(again.body.data.licenseKey).toBe('dev-2');
    expect(await tables()).toEqual(before);
    // The refused key activates once there is quota again (the refused insert left no row behind).
    await adminJson(ctx.t, 'POST', '/v1/purchases', { customerId: 'c1', pid: TRIAL_PID, count: 1 });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-4')).status).toBe(200);
  });
});

describe('round trips', () => {
  it('a new activation with a project’s credentials and pre-authorization on: one once the credentials are known', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 3 });
    expect((await w.p101.post('/v2/vendor/pad/switch', { appid: '101', enabled: 'true' })).status).toBe(200);
    expect((await w.p101.post('/v2/pad/add', { appid: '101', licenseKey: 'dev-1' })).status).toBe(200);
    expect((await w.p101.post('/v2/allocate', { appid: '101' }, { pid: TRIAL_PID, count: 1 })).status).toBe(200);
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-0')).status).toBe(403); // warm: not listed

    const seen = await countQueries();
    const r = await w.p101.activate('101', TRIAL_PID, 'dev-1');
    vi.restoreAllMocks();
    expect(r.status).toBe(200);
    expect(seen.sql).toHaveLength(1);
    expect(seen.sql.some((s) => /^\s*(begin|commit)/i.test(s))).toBe(false);
  });

  it('a repeat, a refusal, credentials not seen yet: at most two; the admin token: one', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
    for (const [call, status, trips] of [
      // 102's credentials are not known yet: looked up, then the activation.
      [() => w.p102.activate('102', TRIAL_PID, 'dev-1'), 200, 2],
      [() => w.p102.activate('102', TRIAL_PID, 'dev-1'), 200, 1],
      [() => w.p101.activate('101', TRIAL_PID, 'dev-2'), 403, 1],
      [() => w.admin.activate('101', TRIAL_PID, 'dev-1'), 200, 1],
    ] as const) {
      const seen = await countQueries();
      const r = await call();
      vi.restoreAllMocks();
      expect(r.status).toBe(status);
      expect(seen.sql).toHaveLength(trips);
    }
  });
});

describe('credentials from memory, the project active checked in the call', () => {
  it('a deactivated project’s credentials stop working at once, and work again once it is reactivated', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    expect((await w.p102.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200); // 102's credentials are now remembered
    // Deactivated behind this instance's back (another instance, or Agora's call): nothing here is told.
    await ctx.tdb.db.updateTable('projects').set({ deactivated_at: new Date() }).where('project_id', '=', '102').execute();
    // The first is refused by the activation's own call, which makes this instance look the
    // project up again for the next: refused before the handler, by the lookup alone.
    for (const answeredBy of [/license_activate/, /from "projects"/]) {
      const seen = await countQueries();
      const r = await w.p102.activate('101', TRIAL_PID, `dev-2`);
      vi.restoreAllMocks();
      refused(r, 401, 'unauthorized', 'Project 102 is deactivated; its credentials no longer work');
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic/);
      expect(seen.sql).toHaveLength(1);
      expect(seen.sql[0]).toMatch(answeredBy);
    }
    refused(await w.p102.get('/v2/detail', { appid: '101', key: 'dev-1' }), 401, 'unauthorized', 'Project 102 is deactivated; its credentials no longer work');
    expect(await ctx.tdb.db.selectFrom('licenses').select('license_key').orderBy('id').execute()).toEqual([{ license_key: 'dev-1' }]);
    await ctx.tdb.db.updateTable('projects').set({ deactivated_at: null }).where('project_id', '=', '102').execute();
    expect((await w.p102.activate('101', TRIAL_PID, 'dev-2')).status).toBe(200);
  });

  it('a wrong secret is refused when the appKey is remembered', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 5 });
    expect((await w.p101.activate('101', TRIAL_PID, 'dev-1')).status).toBe(200);
    const creds = await projectCredentials(ctx.tdb.db, '101');
    const wrong = licenseClient(ctx.t, { basic: { appKey: creds.appKey, appSecret: `${creds.appSecret}x` } });
    refused(await wrong.activate('101', TRIAL_PID, 'dev-2'), 401, 'unauthorized', 'The appKey and appSecret do not match a provisioned project');
    expect(await ctx.tdb.db.selectFrom('licenses').select('license_key').execute()).toEqual([{ license_key: 'dev-1' }]);
  });
});

describe('the last license taken between the room check and the take', () => {
  it.skipIf(!onPostgres)('is refused as used up, and the license it inserted is gone', async () => {
    const w = await licenseWorld(ctx.t, ctx.tdb.db, { trial: 1 });
    const db = ctx.tdb.db;
    let answer: Answer | undefined;
    await db.transaction().execute(async (trx) => {
      // Another activation's take of the last license, not committed yet: the room check below
      // still sees it free, the insert goes through and the take waits for this row.
      await sql`update license_pools set used = used + 1 where customer_id = 'c1' and pid = ${TRIAL_PID} and project_id is null`.execute(trx);
      const pending = w.p101.activate('101', TRIAL_PID, 'dev-late').then((r) => (answer = r));
      for (let i = 0; i < 600; i++) {
        const { rows } = await sql<{ n: string }>`
          select count(*) as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like '%license_activate%' and datname = current_database()`.execute(db);
        if (Number(rows[0]!.n) > 0 || answer) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(answer).toBeUndefined(); // it is waiting for this transaction
      void pending;
    });
    for (let i = 0; i < 600 && !answer; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    refused(answer!, 403, 'quota_exhausted', `No license of PID ${TRIAL_PID} is left for project 101: the 1 shared are used`);
    expect(await db.selectFrom('licenses').selectAll().execute()).toEqual([]);
    // Nothing was taken by the refused activation: only the committed take is counted.
    expect((await db.selectFrom('license_pools').select('used').where('customer_id', '=', 'c1').executeTakeFirstOrThrow()).used).toBe('1');
  });
});
