import { beforeEach, describe, expect, it } from 'vitest';
import { provision } from './helpers/app.ts';
import { setupTestApp } from './helpers/setup.ts';

/**
 * Agora's provisioning calls. Agora re-sends a request up to twice, so every call is checked for the
 * same answer and the same effect when repeated, in sequence and at once.
 */

const ctx = setupTestApp();

interface Answer {
  http: number;
  body: { status?: unknown; statusReason?: unknown; code?: unknown; data?: { appKey: string; appSecret: string } };
}

async function answer(res: Response): Promise<Answer> {
  return { http: res.status, body: (await res.json()) as Answer['body'] };
}

const newCustomer = async (body: Record<string, unknown>) => answer(await ctx.t.agoraSend('POST', '/customers/new', body));
const newProject = async (customerId: string, projectId: unknown) =>
  answer(await ctx.t.agoraSend('POST', `/customers/${customerId}/projects/new`, { projectId }));
const deactivateCustomer = async (customerId: string) => answer(await ctx.t.agoraSend('PUT', `/customers/${customerId}/deactivate`, {}));
const deactivateProject = async (customerId: string, projectId: string | number) =>
  answer(await ctx.t.agoraSend('PUT', `/customers/${customerId}/projects/${projectId}/deactivate`, {}));

const customers = () => ctx.tdb.db.selectFrom('customers').selectAll().orderBy('customer_id').execute();
const customerRow = (id: string) => ctx.tdb.db.selectFrom('customers').selectAll().where('customer_id', '=', id).executeTakeFirst();
const projects = () => ctx.tdb.db.selectFrom('projects').selectAll().orderBy('project_id').execute();
const projectRow = (id: string) => ctx.tdb.db.selectFrom('projects').selectAll().where('project_id', '=', id).executeTakeFirst();

const SUCCESS = { status: 'success', statusReason: '' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectFailure(a: Answer, http: number, code: string | RegExp) {
  expect({ http: a.http, status: a.body.status, code: a.body.code }).toEqual({
    http,
    status: 'failed',
    code: typeof code === 'string' ? code : expect.stringMatching(code),
  });
  expect(typeof a.body.statusReason).toBe('string');
  expect((a.body.statusReason as string).length).toBeGreaterThan(0);
}

describe('POST /customers/new', () => {
  const valid = { customerId: 'c1', planId: 'basic', customerName: 'Ann Lee', customerEmail: 'ann@example.com', customerPhone: '+1 555 0100' };

  it('creates the customer with every field', async () => {
    expect(await newCustomer(valid)).toEqual({ http: 200, body: SUCCESS });
    expect(await customers()).toEqual([
      expect.objectContaining({
        customer_id: 'c1',
        plan_id: 'basic',
        customer_name: 'Ann Lee',
        customer_email: 'ann@example.com',
        customer_phone: '+1 555 0100',
        deactivated_at: null,
      }),
    ]);
  });

  it('needs only planId and customerId', async () => {
    expect(await newCustomer({ customerId: 'c1', planId: 'p' })).toEqual({ http: 200, body: SUCCESS });
    expect(await customerRow('c1')).toMatchObject({ plan_id: 'p', customer_name: null, customer_email: null, customer_phone: null });
  });

  it('accepts the longest allowed values: planId 16, name/email/phone 32 characters', async () => {
    const body = { customerId: 'c1', planId: 'p'.repeat(16), customerName: 'n'.repeat(32), customerEmail: 'e'.repeat(32), customerPhone: '1'.repeat(32) };
    expect(await newCustomer(body)).toEqual({ http: 200, body: SUCCESS });
    expect(await customerRow('c1')).toMatchObject({ plan_id: body.planId, customer_name: body.customerName, customer_email: body.customerEmail, customer_phone: body.customerPhone });
  });

  it.each([
    ['planId missing', { planId: undefined }, 'missing_parameter'],
    ['customerId missing', { customerId: undefined }, 'missing_parameter'],
    ['planId of 17 characters', { planId: 'p'.repeat(17) }, 'invalid_parameter'],
    ['planId a number', { planId: 5 }, 'invalid_parameter'],
    ['planId empty', { planId: '' }, /^(missing_parameter|invalid_parameter)$/],
    ['customerId empty', { customerId: '' }, /^(missing_parameter|invalid_parameter)$/],
    ['customerId an object', { customerId: { id: 1 } }, 'invalid_parameter'],
    ['customerName of 33 characters', { customerName: 'n'.repeat(33) }, 'invalid_parameter'],
    ['customerEmail of 33 characters', { customerEmail: 'e'.repeat(33) }, 'invalid_parameter'],
    ['customerPhone of 33 characters', { customerPhone: '1'.repeat(33) }, 'invalid_parameter'],
    ['customerName a number', { customerName: 12 }, 'invalid_parameter'],
  ] as const)('rejects %s with 400', async (_name, change, code) => {
    const body: Record<string, unknown> = { ...valid, ...change };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    expectFailure(await newCustomer(body), 400, code);
    expect(await customers()).toEqual([]);
  });

  it('answers the same request three times the same way, with one row', async () => {
    const answers = [await newCustomer(valid), await newCustomer(valid), await newCustomer(valid)];
    expect(answers).toEqual([
      { http: 200, body: SUCCESS },
      { http: 200, body: SUCCESS },
      { http: 200, body: SUCCESS },
    ]);
    const rows = await customers();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ customer_id: 'c1', plan_id: 'basic', customer_name: 'Ann Lee', deactivated_at: null });
  });

  it('answers three concurrent copies the same way, with one row', async () => {
    const answers = await Promise.all([newCustomer(valid), newCustomer(valid), newCustomer(valid)]);
    expect(answers).toEqual([
      { http: 200, body: SUCCESS },
      { http: 200, body: SUCCESS },
      { http: 200, body: SUCCESS },
    ]);
    expect(await customers()).toHaveLength(1);
  });

  it('a repeat with a new planId updates the plan and keeps the creation time', async () => {
    await newCustomer(valid);
    const before = (await customerRow('c1'))!;
    await sleep(15);
    expect(await newCustomer({ ...valid, planId: 'premium' })).toEqual({ http: 200, body: SUCCESS });
    const rows = await customers();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.plan_id).toBe('premium');
    expect(rows[0]!.created_at.getTime()).toBe(before.created_at.getTime());
  });
});

describe('POST /customers/{customerId}/projects/new', () => {
  beforeEach(async () => {
    await provision(ctx.t, 'c1', []);
  });

  function expectCredentials(a: Answer) {
    expect(a.http).toBe(200);
    expect(a.body).toMatchObject(SUCCESS);
    const { appKey, appSecret } = a.body.data!;
    for (const v of [appKey, appSecret]) {
      expect(typeof v).toBe('string');
      expect(Buffer.byteLength(v, 'utf8')).toBeGreaterThanOrEqual(32);
      expect(Buffer.byteLength(v, 'utf8')).toBeLessThanOrEqual(255);
    }
    expect(appKey).not.toBe(appSecret);
    return { appKey, appSecret };
  }

  it('returns appKey and appSecret of 32–255 characters and stores them', async () => {
    const creds = expectCredentials(await newProject('c1', 430892));
    expect(await projects()).toEqual([
      expect.objectContaining({ project_id: '430892', customer_id: 'c1', app_key: creds.appKey, app_secret: creds.appSecret, deactivated_at: null }),
    ]);
  });

  it('answers the same appKey/appSecret on three repeats, with one row', async () => {
    const answers = [await newProject('c1', 430892), await newProject('c1', 430892), await newProject('c1', 430892)];
    const first = expectCredentials(answers[0]!);
    expect(answers).toEqual([answers[0], answers[0], answers[0]]);
    expect(answers[1]!.body.data).toEqual(first);
    expect(await projects()).toHaveLength(1);
  });

  it('answers the same appKey/appSecret to three concurrent copies, with one row', async () => {
    const answers = await Promise.all([newProject('c1', 430892), newProject('c1', 430892), newProject('c1', 430892)]);
    const first = expectCredentials(answers[0]!);
    expect(answers.map((a) => a.http)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.body.data)).toEqual([first, first, first]);
    const rows = await projects();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.app_key).toBe(first.appKey);
  });

  it('gives different projects different credentials', async () => {
    const a = expectCredentials(await newProject('c1', 1));
    const b = expectCredentials(await newProject('c1', 2));
    expect(b.appKey).not.toBe(a.appKey);
    expect(b.appSecret).not.toBe(a.appSecret);
  });

  it('takes projectId as a number or a string of digits: the same project', async () => {
    const asNumber = expectCredentials(await newProject('c1', 430892));
    const asString = expectCredentials(await newProject('c1', '430892'));
    expect(asString).toEqual(asNumber);
    expect((await projects()).map((p) => p.project_id)).toEqual(['430892']);
  });

  it('keeps a projectId beyond 2^53 exact when sent as digits', async () => {
    expectCredentials(await newProject('c1', '9007199254740993'));
    expectCredentials(await newProject('c1', '9223372036854775807'));
    expect((await projects()).map((p) => p.project_id).sort()).toEqual(['9007199254740993', '9223372036854775807']);
  });

  it.each([
    ['0', 0],
    ['negative', -5],
    ['fractional', 1.5],
    ['"abc"', 'abc'],
    ['20 digits as a string', '12345678901234567890'],
    ['20 digits as a number', Number('12345678901234567890')],
    ['beyond bigint as a string', '9223372036854775808'],
    ['"0"', '0'],
    ['"-5"', '-5'],
    ['"1.5"', '1.5'],
    ['empty string', ''],
    ['null', null],
    ['true', true],
    ['an object', { id: 1 }],
  ])('rejects projectId %s with 400 invalid_parameter', async (_name, projectId) => {
    expectFailure(await newProject('c1', projectId), 400, 'invalid_parameter');
    expect(await projects()).toEqual([]);
  });

  it('rejects a missing projectId with 400 missing_parameter', async () => {
    expectFailure(await answer(await ctx.t.agoraSend('POST', '/customers/c1/projects/new', {})), 400, 'missing_parameter');
    expect(await projects()).toEqual([]);
  });

  it('rejects an unknown customer with 404 unknown_customer', async () => {
    expectFailure(await newProject('nobody', 5), 404, 'unknown_customer');
    expect(await projects()).toEqual([]);
  });

  it('rejects a project that belongs to another customer with 409 project_of_another_customer', async () => {
    await provision(ctx.t, 'c2', []);
    const owner = expectCredentials(await newProject('c1', 77));
    const a = await newProject('c2', 77);
    expectFailure(a, 409, 'project_of_another_customer');
    expect(JSON.stringify(a.body)).not.toContain(owner.appSecret);
    expect(await projects()).toEqual([expect.objectContaining({ project_id: '77', customer_id: 'c1', app_key: owner.appKey })]);
  });

  it('rejects a project for a deactivated customer with 409 customer_deactivated', async () => {
    expect(await deactivateCustomer('c1')).toEqual({ http: 200, body: SUCCESS });
    expectFailure(await newProject('c1', 8), 409, 'customer_deactivated');
    expect(await projects()).toEqual([]);
  });

  it('re-adding a deactivated project reactivates it with the same credentials', async () => {
    const creds = expectCredentials(await newProject('c1', 9));
    expect(await deactivateProject('c1', 9)).toEqual({ http: 200, body: SUCCESS });
    expect((await projectRow('9'))!.deactivated_at).toBeInstanceOf(Date);
    const again = expectCredentials(await newProject('c1', 9));
    expect(again).toEqual(creds);
    expect(await projects()).toEqual([expect.objectContaining({ project_id: '9', app_key: creds.appKey, deactivated_at: null })]);
  });
});

describe('PUT /customers/{customerId}/projects/{projectId}/deactivate', () => {
  beforeEach(async () => {
    await provision(ctx.t, 'c1', [1, 2]);
    await provision(ctx.t, 'c2', [3]);
  });

  it('deactivates the project once; a repeat succeeds and keeps the first moment', async () => {
    const before = Date.now();
    expect(await deactivateProject('c1', 1)).toEqual({ http: 200, body: SUCCESS });
    const first = (await projectRow('1'))!.deactivated_at;
    expect(first).toBeInstanceOf(Date);
    expect(first!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await sleep(20);
    expect(await deactivateProject('c1', 1)).toEqual({ http: 200, body: SUCCESS });
    expect(await deactivateProject('c1', '1')).toEqual({ http: 200, body: SUCCESS });
    expect((await projectRow('1'))!.deactivated_at!.getTime()).toBe(first!.getTime());
    // Only that project.
    expect((await projectRow('2'))!.deactivated_at).toBeNull();
    expect((await projectRow('3'))!.deactivated_at).toBeNull();
    expect((await customerRow('c1'))!.deactivated_at).toBeNull();
  });

  it('keeps the project row (history) after deactivation', async () => {
    const before = (await projectRow('1'))!;
    await deactivateProject('c1', 1);
    expect(await projectRow('1')).toMatchObject({ project_id: '1', customer_id: 'c1', app_key: before.app_key, app_secret: before.app_secret });
  });

  it('rejects an unknown project with 404 unknown_project', async () => {
    expectFailure(await deactivateProject('c1', 999), 404, 'unknown_project');
  });

  it('rejects another customer’s project with 404 unknown_project and leaves it active', async () => {
    expectFailure(await deactivateProject('c1', 3), 404, 'unknown_project');
    expect((await projectRow('3'))!.deactivated_at).toBeNull();
  });

  it('rejects an unknown customer with 404 unknown_customer', async () => {
    expectFailure(await deactivateProject('nobody', 1), 404, 'unknown_customer');
    expect((await projectRow('1'))!.deactivated_at).toBeNull();
  });

  it.each(['abc', '0', '-1', '12345678901234567890'])('rejects projectId %s in the path with 400 invalid_parameter', async (pid) => {
    expectFailure(await deactivateProject('c1', pid), 400, 'invalid_parameter');
  });
});

describe('PUT /customers/{customerId}/deactivate', () => {
  beforeEach(async () => {
    await provision(ctx.t, 'c1', [1, 2]);
    await provision(ctx.t, 'c2', [3]);
  });

  it('deactivates the customer and all its projects; a repeat succeeds and keeps the moment', async () => {
    expect(await deactivateCustomer('c1')).toEqual({ http: 200, body: SUCCESS });
    const at = (await customerRow('c1'))!.deactivated_at;
    expect(at).toBeInstanceOf(Date);
    const ps = await projects();
    expect(ps.filter((p) => p.customer_id === 'c1').map((p) => p.deactivated_at?.getTime())).toEqual([at!.getTime(), at!.getTime()]);
    // Another customer is untouched.
    expect((await customerRow('c2'))!.deactivated_at).toBeNull();
    expect((await projectRow('3'))!.deactivated_at).toBeNull();

    await sleep(20);
    expect(await deactivateCustomer('c1')).toEqual({ http: 200, body: SUCCESS });
    expect(await deactivateCustomer('c1')).toEqual({ http: 200, body: SUCCESS });
    expect((await customerRow('c1'))!.deactivated_at!.getTime()).toBe(at!.getTime());
    expect((await projects()).filter((p) => p.customer_id === 'c1').map((p) => p.deactivated_at?.getTime())).toEqual([at!.getTime(), at!.getTime()]);
  });

  it('keeps a project deactivated earlier at its own, earlier moment', async () => {
    await deactivateProject('c1', 1);
    const projectAt = (await projectRow('1'))!.deactivated_at!.getTime();
    await sleep(20);
    await deactivateCustomer('c1');
    expect((await projectRow('1'))!.deactivated_at!.getTime()).toBe(projectAt);
    expect((await projectRow('2'))!.deactivated_at!.getTime()).toBeGreaterThan(projectAt);
  });

  it('keeps the customer and project rows (history)', async () => {
    await deactivateCustomer('c1');
    expect(await customerRow('c1')).toMatchObject({ customer_id: 'c1', plan_id: 'basic', customer_name: 'Customer c1' });
    expect((await projects()).map((p) => p.project_id)).toEqual(['1', '2', '3']);
  });

  it('rejects an unknown customer with 404 unknown_customer', async () => {
    expectFailure(await deactivateCustomer('nobody'), 404, 'unknown_customer');
    expect((await customers()).map((c) => c.deactivated_at)).toEqual([null, null]);
  });

  it('is undone by provisioning the customer again, which reactivates it', async () => {
    await deactivateCustomer('c1');
    expect(await newCustomer({ customerId: 'c1', planId: 'gold' })).toEqual({ http: 200, body: SUCCESS });
    expect(await customerRow('c1')).toMatchObject({ deactivated_at: null, plan_id: 'gold' });
    // Projects can be added again, and a project that was deactivated with the customer comes
    // back with its old credentials.
    const old = (await projectRow('1'))!;
    const again = await newProject('c1', 1);
    expect(again.http).toBe(200);
    expect(again.body.data).toEqual({ appKey: old.app_key, appSecret: old.app_secret });
    expect((await projectRow('1'))!.deactivated_at).toBeNull();
    expect((await newProject('c1', 4)).http).toBe(200);
  });
});
