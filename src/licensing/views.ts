import type { LicenseRow, LicensePid, LicenseSku } from '../db/schema.ts';
import type { Product } from './catalogue.repository.ts';

export const unixSeconds = (d: Date) => Math.floor(d.getTime() / 1000);
/** RFC 3339 in UTC, to the second (license times are whole seconds). */
export const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function skuView(sku: LicenseSku) {
  return { product: sku.product, name: sku.name, mediaType: sku.media_type, minutes: sku.minutes, period: sku.period };
}

/** Agora's answer to an activation (and to a detail query). */
export function activationView(l: LicenseRow, product: Product) {
  return {
    pid: l.pid,
    license: l.license,
    licenseKey: l.license_key,
    activationTime: unixSeconds(l.activated_at),
    expireTime: unixSeconds(l.expires_at),
    skuView: skuView(product.sku),
  };
}

export function renewedLicenseView(l: LicenseRow, renewId: string) {
  return {
    licenseKey: l.license_key,
    license: l.license,
    renewTimes: l.renew_times,
    lastRenewTime: l.last_renew_at === null ? null : unixSeconds(l.last_renew_at),
    activationTime: unixSeconds(l.activated_at),
    expireTime: unixSeconds(l.expires_at),
    renewId,
  };
}

/** Agora's allocation list says 1 for commercial, 2 for trial. */
export const pidTypeNumber = (type: LicensePid['type']) => (type === 'commercial' ? 1 : 2);

export function skuAdminView(sku: LicenseSku) {
  return { id: sku.sku_id, ...skuView(sku), createdAt: sku.created_at.toISOString() };
}

export function pidAdminView(p: LicensePid) {
  return {
    pid: p.pid,
    sku: p.sku_id,
    category: p.category,
    type: p.type,
    validityMonths: p.type === 'trial' ? p.validity_months : null,
    validityYears: p.type === 'commercial' ? p.validity_months / 12 : null,
    createdAt: p.created_at.toISOString(),
  };
}

export const licenseStatus = (l: LicenseRow, now: Date): 'active' | 'expired' => (l.expires_at.getTime() > now.getTime() ? 'active' : 'expired');

export function licenseAdminView(l: LicenseRow, now: Date) {
  return {
    license: l.license,
    licenseKey: l.license_key,
    pid: l.pid,
    customerId: l.customer_id,
    projectId: l.project_id,
    activatedAt: rfc3339(l.activated_at),
    expiresAt: rfc3339(l.expires_at),
    status: licenseStatus(l, now),
    renewTimes: l.renew_times,
    lastRenewedAt: l.last_renew_at === null ? null : rfc3339(l.last_renew_at),
  };
}

export const LICENSE_CSV_HEADER = ['License', 'LicenseKey', 'PID', 'Project', 'Customer', 'Activation', 'Expiry', 'Status', 'RenewTimes'];

export function licenseCsvRow(l: LicenseRow, now: Date): unknown[] {
  return [l.license, l.license_key, l.pid, l.project_id, l.customer_id, rfc3339(l.activated_at), rfc3339(l.expires_at), licenseStatus(l, now), l.renew_times];
}
