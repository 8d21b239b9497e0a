import type { Db } from '../db/database.ts';
import type { LicenseAgentRow, LicenseCertificateRow, LicensePlatformRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { emit, emitMany } from '../notifications/outbox.ts';
import * as repo from './certificates.repository.ts';
import type { PackagePayload } from './package.ts';

const DAY_MS = 86_400_000;

/** A resource's licence: until `expiresAt` (null: never licensed), or for good. */
export interface Expiry {
  expiresAt: Date | null;
  permanent: boolean;
}

/**
 * Activating a certificate on a resource (the seed: "postponed based on the current expiration
 * time"): its days run from the resource's current expiry when that is still ahead, else from now.
 * A permanent certificate makes the resource permanent.
 */
export function extend(current: Expiry, validityDays: number | null, now: Date): { startsAt: Date; certificateExpiresAt: Date | null; resource: Expiry } {
  const startsAt = current.expiresAt !== null && current.expiresAt > now ? current.expiresAt : now;
  if (validityDays === null) return { startsAt, certificateExpiresAt: null, resource: { expiresAt: current.expiresAt, permanent: true } };
  const end = new Date(startsAt.getTime() + validityDays * DAY_MS);
  return { startsAt, certificateExpiresAt: end, resource: { expiresAt: end, permanent: current.permanent } };
}

export const isActive = (e: Expiry, now: Date) => e.permanent || (e.expiresAt !== null && e.expiresAt > now);

export type CertificateStatus = 'unused' | 'activated' | 'expired';

export function statusOf(c: LicenseCertificateRow, agentDeletedAt: Date | null, now: Date): CertificateStatus {
  if (c.activated_at === null) return 'unused';
  if (agentDeletedAt !== null) return 'expired';
  if (c.expires_at !== null && c.expires_at <= now) return 'expired';
  return 'activated';
}

const emptyPlatform = (customerId: string): LicensePlatformRow => ({ customer_id: customerId, expires_at: null, permanent: false, unlimited_until: null, unlimited_permanent: false });
const unlimitedValid = (p: LicensePlatformRow, now: Date) => p.unlimited_permanent || (p.unlimited_until !== null && p.unlimited_until > now);

export type UploadOutcome = { id: string; type: string; status: 'registered' | 'already_registered' } | { id: string; type: string; status: 'rejected'; reason: string };

/**
 * Registers the package's certificates for `customerId`, each once: one read of which ids exist,
 * one multi-row insert, one write of the platform. Platform certificates activate at once, stacked
 * in the package's order. Uploads of one customer run one at a time (the lock), so the same package
 * uploaded twice at once registers each certificate once, the second answering already_registered.
 */
export async function upload(db: Db, customerId: string, pkg: PackagePayload, now: Date) {
  return db.transaction().execute(async (trx) => {
    await repo.lockCustomerCertificates(trx, customerId);
    const owners = await repo.existingOwners(trx, pkg.certificates.map((c) => c.id));
    const platform = (await repo.findPlatform(trx, customerId)) ?? emptyPlatform(customerId);
    let platformChanged = false;
    let unlimitedActivated = false;
    const outcomes: UploadOutcome[] = [];
    const rows: repo.NewCertificateRow[] = [];
    for (const c of pkg.certificates) {
      const owner = owners.get(c.id);
      if (c.customerId !== customerId) {
        outcomes.push({ id: c.id, type: c.type, status: 'rejected', reason: 'issued to another customer' });
      } else if (owner !== undefined) {
        outcomes.push(owner === customerId ? { id: c.id, type: c.type, status: 'already_registered' } : { id: c.id, type: c.type, status: 'rejected', reason: 'registered by another customer' });
      } else if (c.type === 'agent') {
        rows.push({ id: c.id, type: c.type, mode: c.mode, validityDays: c.validityDays, activatedAt: null, startsAt: null, expiresAt: null });
        outcomes.push({ id: c.id, type: c.type, status: 'registered' });
      } else {
        const ext = extend({ expiresAt: platform.expires_at, permanent: platform.permanent }, c.validityDays, now);
        platform.expires_at = ext.resource.expiresAt;
        platform.permanent = ext.resource.permanent;
        if (c.type === 'platform-unlimited') {
          // Unlimited agents from now until this certificate's own end (Decision, docs/certificates.md).
          if (ext.certificateExpiresAt === null) platform.unlimited_permanent = true;
          else if (platform.unlimited_until === null || ext.certificateExpiresAt > platform.unlimited_until) platform.unlimited_until = ext.certificateExpiresAt;
          unlimitedActivated = true;
        }
        platformChanged = true;
        rows.push({ id: c.id, type: c.type, mode: c.mode, validityDays: c.validityDays, activatedAt: now, startsAt: ext.startsAt, expiresAt: ext.certificateExpiresAt });
        outcomes.push({ id: c.id, type: c.type, status: 'registered' });
      }
    }
    const inserted = await repo.insertCertificates(trx, customerId, pkg.packageId, now, rows);
    // Under the customer's lock no other upload of these ids can commit meanwhile; another
    // customer's cannot either (ids are the vendor's, each issued to one customer).
    if (inserted !== rows.length) throw new AppError('conflict', 'A certificate of the package was registered meanwhile; upload it again');
    if (platformChanged) await repo.savePlatform(trx, platform);
    if (unlimitedActivated) await repo.coverAgentsUnlimited(trx, customerId);
    await emitMany(
      trx,
      'certificate.registered',
      rows.map((r) => ({ certificateId: r.id, customerId, type: r.type, mode: r.mode, packageId: pkg.packageId, agentId: null, expiresAt: r.expiresAt?.toISOString() ?? null })),
      now,
    );
    const count = (s: UploadOutcome['status']) => outcomes.filter((o) => o.status === s).length;
    return { packageId: pkg.packageId, registered: count('registered'), alreadyRegistered: count('already_registered'), rejected: count('rejected'), certificates: outcomes };
  });
}

/** Registers an agent (a repeat is a no-op); a deleted agent's id is not reused (409 agent_deleted). */
export async function registerAgent(db: Db, customerId: string, agentId: string, now: Date): Promise<{ agent: LicenseAgentRow; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    await repo.lockCustomerCertificates(trx, customerId);
    const existing = await repo.findAgent(trx, customerId, agentId);
    if (existing?.deleted_at) throw new AppError('agent_deleted', `Agent ${agentId} was deleted; an agent id is not reused`);
    if (existing) return { agent: existing, created: false };
    const platform = await repo.findPlatform(trx, customerId);
    const agent: LicenseAgentRow = {
      customer_id: customerId,
      agent_id: agentId,
      registered_at: now,
      deleted_at: null,
      expires_at: null,
      permanent: false,
      unlimited: platform !== undefined && unlimitedValid(platform, now),
    };
    await repo.insertAgent(trx, agent);
    return { agent, created: true };
  });
}

export async function deleteAgent(db: Db, customerId: string, agentId: string, now: Date): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await repo.lockCustomerCertificates(trx, customerId);
    const existing = await repo.findAgent(trx, customerId, agentId);
    if (!existing) throw new AppError('unknown_agent', `No agent ${agentId} is registered`);
    await repo.markAgentDeleted(trx, customerId, agentId, now);
  });
}

/**
 * Binds an unused agent certificate to an agent, for good, extending the agent from its current
 * expiry. The same binding again changes nothing; another agent is 409. Binds of one customer run
 * one at a time, so of two concurrent binds of one certificate exactly one wins.
 */
export async function bind(db: Db, customerId: string, certificateId: string, agentId: string, now: Date): Promise<{ certificate: LicenseCertificateRow; bound: boolean }> {
  return db.transaction().execute(async (trx) => {
    await repo.lockCustomerCertificates(trx, customerId);
    const cert = await repo.findCertificate(trx, customerId, certificateId);
    if (!cert) throw new AppError('unknown_certificate', `No certificate ${certificateId} is registered for this customer`);
    if (cert.type !== 'agent') throw new AppError('certificate_not_bindable', `Certificate ${certificateId} is a ${cert.type} certificate: it licenses the platform, which needs no binding`);
    if (cert.agent_id === agentId) return { certificate: cert, bound: false };
    if (cert.agent_id !== null) throw new AppError('certificate_bound_elsewhere', `Certificate ${certificateId} is bound to another agent; a binding never changes`);
    const agent = await repo.findAgent(trx, customerId, agentId);
    if (!agent) throw new AppError('unknown_agent', `No agent ${agentId} is registered`);
    if (agent.deleted_at) throw new AppError('agent_deleted', `Agent ${agentId} was deleted`);
    const ext = extend({ expiresAt: agent.expires_at, permanent: agent.permanent }, cert.validity_days, now);
    if ((await repo.bindCertificate(trx, cert.id, agentId, now, ext.startsAt, ext.certificateExpiresAt)) !== 1) {
      throw new AppError('certificate_bound_elsewhere', `Certificate ${certificateId} was bound meanwhile`);
    }
    await repo.setAgentExpiry(trx, customerId, agentId, ext.resource.expiresAt, ext.resource.permanent);
    await emit(
      trx,
      'certificate.bound',
      {
        certificateId: cert.id,
        customerId,
        agentId,
        startsAt: ext.startsAt.toISOString(),
        expiresAt: ext.certificateExpiresAt?.toISOString() ?? null,
        agentExpiresAt: ext.resource.permanent ? null : (ext.resource.expiresAt?.toISOString() ?? null),
      },
      now,
    );
    return { certificate: { ...cert, agent_id: agentId, activated_at: now, starts_at: ext.startsAt, expires_at: ext.certificateExpiresAt }, bound: true };
  });
}

export function platformExpiry(p: LicensePlatformRow | undefined): Expiry {
  return p ? { expiresAt: p.expires_at, permanent: p.permanent } : { expiresAt: null, permanent: false };
}

/** An agent's own licence, or the platform's when it is covered by unlimited agents, whichever lasts longer. */
export function agentExpiry(a: LicenseAgentRow, platform: LicensePlatformRow | undefined): Expiry {
  const own: Expiry = { expiresAt: a.expires_at, permanent: a.permanent };
  if (!a.unlimited || !platform) return own;
  const p = platformExpiry(platform);
  const later = own.expiresAt === null ? p.expiresAt : p.expiresAt === null ? own.expiresAt : own.expiresAt > p.expiresAt ? own.expiresAt : p.expiresAt;
  return { expiresAt: later, permanent: own.permanent || p.permanent };
}

export async function entitlements(db: Db, customerId: string, agentId: string | undefined, now: Date) {
  const platform = await repo.findPlatform(db, customerId);
  const p = platformExpiry(platform);
  const view = (e: Expiry) => ({ active: isActive(e, now), expiresAt: e.permanent ? null : (e.expiresAt?.toISOString() ?? null), permanent: e.permanent });
  let agent: { agentId: string; registered: boolean } & ReturnType<typeof view> = { agentId: '', registered: false, active: false, expiresAt: null, permanent: false };
  if (agentId !== undefined) {
    const a = await repo.findAgent(db, customerId, agentId);
    agent = a && !a.deleted_at ? { agentId, registered: true, ...view(agentExpiry(a, platform)) } : { agentId, registered: false, active: false, expiresAt: null, permanent: false };
  }
  return { platform: view(p), agent: agentId === undefined ? null : agent };
}
