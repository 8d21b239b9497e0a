import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.ts';
import { LruCache } from '../http/lru.ts';
import { secretEquals } from '../http/middleware.ts';
import { randomToken } from '../ids.ts';
import { agentExpiry, platformExpiry, statusOf } from './certificates.service.ts';
import type { SigningKeys } from './keys.ts';
import { sealSigned } from './signed.ts';

export interface LicenseFileProject {
  projectId: string;
  customerId: string;
}

/**
 * One kind of thing a license file lists. To add one (Agora grants, say): write a source and add
 * it to LICENSE_FILE_SOURCES; the file, its cache and its signature need nothing else.
 */
export interface LicenseFileSource {
  /**
   * An SQL expression, read in the same statement as the other sources', that changes whenever
   * what `collect` would answer changes (apart from the clock): a trigger-kept version counter.
   */
  version(p: LicenseFileProject): RawBuilder<unknown>;
  /** The payload fields this source fills, and the first instant after which one of them lapses. */
  collect(db: Db, p: LicenseFileProject, now: Date): Promise<{ fields: Record<string, unknown>; nextChange: Date | null }>;
}

/** A payload value already written as JSON text. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** A timestamptz as `Date.toISOString()` writes it (UTC, milliseconds, Z). */
const isoText = (column: RawBuilder<unknown> | ReturnType<typeof sql.ref>) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The payload as JSON: ordinary values through JSON.stringify, JsonText as it is. */
function writePayload(payload: Record<string, unknown>): string {
  return `{${Object.entries(payload)
    .map(([k, v]) => `${JSON.stringify(k)}:${v instanceof JsonText ? v.text : JSON.stringify(v)}`)
    .join(',')}}`;
}

const earliest = (a: Date | null, b: Date | null) => (a === null ? b : b === null ? a : a < b ? a : b);
const scopeVersion = (scope: string) => sql`coalesce((select version from license_file_versions where scope = ${scope}), 0)`;

/** The project's device licenses in force. Activations bump listing_counts; renewals, license_file_versions. */
export const licensesSource: LicenseFileSource = {
  version: (p) =>
    sql`(select coalesce(sum(version), 0) from listing_counts where listing = 'licenses' and customer_id = ${p.customerId} and project_id = ${p.projectId}) || '.' || ${scopeVersion(`p:${p.projectId}`)}`,
  async collect(db, p, now) {
    // The list is written as JSON by Postgres itself: 10,000 licenses are one text value, not
    // 10,000 rows of Dates for JavaScript to parse and write again.
    const { rows } = await sql<{ list: string; next: Date | null }>`
      select coalesce(json_agg(json_build_object(
               'license', license, 'licenseKey', license_key, 'pid', pid,
               'activatedAt', ${isoText(sql.ref('activated_at'))}, 'expiresAt', ${isoText(sql.ref('expires_at'))}) order by id)::text, '[]') as list,
             min(expires_at) as next
      from licenses where project_id = ${p.projectId} and expires_at > ${now}`.execute(db);
    return { fields: { licenses: new JsonText(rows[0]!.list) }, nextChange: rows[0]!.next };
  },
};

/** The customer's platform, agents and activated certificates in force. */
export const certificatesSource: LicenseFileSource = {
  version: (p) => scopeVersion(`c:${p.customerId}`),
  async collect(db, p, now) {
    const [platform, agents, certificates] = await Promise.all([
      db.selectFrom('license_platforms').selectAll().where('customer_id', '=', p.customerId).executeTakeFirst(),
      db.selectFrom('license_agents').selectAll().where('customer_id', '=', p.customerId).where('deleted_at', 'is', null).orderBy('agent_id').execute(),
      db
        .selectFrom('license_certificates as c')
        .leftJoin('license_agents as a', (j) => j.onRef('a.customer_id', '=', 'c.customer_id').onRef('a.agent_id', '=', 'c.agent_id'))
        .selectAll('c')
        .select('a.deleted_at as agent_deleted_at')
        .where('c.customer_id', '=', p.customerId)
        .where('c.activated_at', 'is not', null)
        // Lapsed ones are left out here already; a deleted agent's, by statusOf below.
        .where((eb) => eb.or([eb('c.expires_at', 'is', null), eb('c.expires_at', '>', now)]))
        .orderBy('c.id')
        .execute(),
    ]);
    let nextChange: Date | null = null;
    const view = (e: { expiresAt: Date | null; permanent: boolean }) => {
      if (!e.permanent && e.expiresAt !== null && e.expiresAt > now) nextChange = earliest(nextChange, e.expiresAt);
      return { expiresAt: e.permanent ? null : (e.expiresAt?.toISOString() ?? null), permanent: e.permanent };
    };
    const inForce = certificates.filter((c) => statusOf(c, c.agent_deleted_at, now) === 'activated');
    return {
      fields: {
        platform: platform ? view(platformExpiry(platform)) : null,
        agents: agents.map((a) => ({ agentId: a.agent_id, ...view(agentExpiry(a, platform)) })),
        certificates: inForce.map((c) => ({ id: c.id, type: c.type, mode: c.mode, agentId: c.agent_id, ...view({ expiresAt: c.expires_at, permanent: c.expires_at === null }) })),
      },
      nextChange,
    };
  },
};

/**
 * The customer's Agora grants not ended yet (in force now or starting later), each with its window
 * and platforms: the file is valid for days, so a grant that starts tomorrow is in it already and
 * the reader checks the window. Recording a grant bumps the customer's version (a trigger on
 * license_grants, migration 20261201080000); an ended one drops out at its end (nextChange).
 */
export const grantsSource: LicenseFileSource = {
  version: (p) => scopeVersion(`c:${p.customerId}`),
  async collect(db, p, now) {
    const { rows } = await sql<{ list: string; next: Date | null }>`
      select coalesce(json_agg(json_build_object(
               'grantId', id::text, 'platforms', platforms, 'type', type,
               'startsAt', ${isoText(sql.ref('starts_at'))}, 'endsAt', ${isoText(sql.ref('ends_at'))}) order by starts_at, id)::text, '[]') as list,
             min(ends_at) as next
      from license_grants where customer_id = ${p.customerId} and ends_at > ${now}`.execute(db);
    return { fields: { grants: new JsonText(rows[0]!.list) }, nextChange: rows[0]!.next };
  },
};

export const LICENSE_FILE_SOURCES: LicenseFileSource[] = [licensesSource, certificatesSource, grantsSource];

/** How long a cached file is served before it is made again with a fresh issuedAt. */
const FRESH_MS = 60 * 60 * 1000;

interface CachedFile {
  version: string;
  text: string;
  issuedAt: Date;
  nextChange: Date | null;
}

/**
 * Makes and caches license files. A cached file is served while no source's version changed, no
 * entry in it has lapsed, and it is less than an hour old; the version is read in one statement,
 * so a change committed on any instance is seen by the next request.
 */
export class LicenseFiles {
  private readonly cache = new LruCache<CachedFile>(64 * 1024 * 1024, (f) => f.text.length);
  constructor(
    private readonly db: Db,
    private readonly ttlDays: number,
    private readonly sources: LicenseFileSource[] = LICENSE_FILE_SOURCES,
  ) {}

  async versionOf(p: LicenseFileProject): Promise<string> {
    const parts = this.sources.map((s) => sql`(${s.version(p)})::text`);
    const { rows } = await sql<{ v: string }>`select ${sql.join(parts, sql` || ':' || `)} as v`.execute(this.db);
    return rows[0]!.v;
  }

  async fileOf(keys: SigningKeys, p: LicenseFileProject, now: Date): Promise<string> {
    const version = await this.versionOf(p);
    const hit = this.cache.get(p.projectId);
    if (hit && hit.version === version && now.getTime() - hit.issuedAt.getTime() < FRESH_MS && hit.issuedAt <= now && (hit.nextChange === null || now < hit.nextChange)) {
      return hit.text;
    }
    const collected = await Promise.all(this.sources.map((s) => s.collect(this.db, p, now)));
    const validUntil = new Date(now.getTime() + this.ttlDays * 86_400_000);
    const payload: Record<string, unknown> = {
      format: 'agora-license-file',
      version: 1,
      projectId: p.projectId,
      customerId: p.customerId,
      issuedAt: now.toISOString(),
      validUntil: validUntil.toISOString(),
    };
    let nextChange: Date | null = null;
    for (const c of collected) {
      Object.assign(payload, c.fields);
      nextChange = earliest(nextChange, c.nextChange);
    }
    const text = sealSigned('ALF1', keys, writePayload(payload));
    this.cache.set(p.projectId, { version, text, issuedAt: now, nextChange });
    return text;
  }
}

export const tokenHash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
/** Compared against when no token matched, so an unknown token costs what a known one does. */
const NO_TOKEN = 'x'.repeat(43);

/**
 * The project of a license-file token. Looked up by the token's hash (an index lookup that says
 * nothing about the token's characters), then the token itself compared in constant time.
 */
export async function projectOfToken(db: Db, token: string): Promise<LicenseFileProject | undefined> {
  const row = await db
    .selectFrom('license_file_tokens as t')
    .innerJoin('projects as p', 'p.project_id', 't.project_id')
    .select(['t.token', 'p.project_id', 'p.customer_id', 'p.deactivated_at'])
    .where('t.token_hash', '=', tokenHash(token))
    .executeTakeFirst();
  const same = secretEquals(token, row?.token ?? NO_TOKEN);
  if (!row || !same || row.deactivated_at) return undefined;
  return { projectId: row.project_id, customerId: row.customer_id };
}

/** The project's token, created on first use; the same on every call until rotated. One round trip when it exists. */
export async function tokenOf(db: Db, projectId: string): Promise<string> {
  const fresh = randomToken(32);
  for (let attempt = 0; attempt < 2; attempt++) {
    const { rows } = await sql<{ token: string }>`
      with created as (
        insert into license_file_tokens (project_id, token, token_hash) values (${projectId}, ${fresh}, ${tokenHash(fresh)})
        on conflict (project_id) do nothing
        returning token)
      select token from created
      union all
      select token from license_file_tokens where project_id = ${projectId}
      limit 1`.execute(db);
    // Empty only when a concurrent first call inserted meanwhile (this statement's snapshot missed it).
    if (rows[0]) return rows[0].token;
  }
  throw new Error(`license file token of project ${projectId}: not found after insert`);
}

/** A new token for the project: the old URL answers 404 from now on. */
export async function rotateToken(db: Db, projectId: string, now: Date): Promise<string> {
  const token = randomToken(32);
  await db
    .insertInto('license_file_tokens')
    .values({ project_id: projectId, token, token_hash: tokenHash(token), created_at: now })
    .onConflict((oc) => oc.column('project_id').doUpdateSet({ token, token_hash: tokenHash(token) }))
    .execute();
  return token;
}

export const licenseUrlOf = (publicUrl: string, token: string) => `${publicUrl}/license-files/${token}`;
