import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { CertificateType } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { SigningKeys } from './keys.ts';
import { openSigned, sealSigned } from './signed.ts';

export const CERTIFICATE_TYPES = ['platform', 'agent', 'platform-unlimited'] as const satisfies readonly CertificateType[];
/** Certificates one package may hold (issued or uploaded). */
export const MAX_PACKAGE_CERTIFICATES = 100_000;

export const modeSchema = z
  .string()
  .min(1, 'mode is empty')
  .max(32, 'mode is at most 32 characters')
  .regex(/^[A-Za-z0-9._-]+$/, "mode may hold letters, digits, '.', '_' and '-' only");
export const validityDaysSchema = z
  .number()
  .int('validityDays must be a whole number of days')
  .min(1, 'validityDays must be at least 1')
  .max(36_500, 'validityDays must be at most 36500')
  .nullable();
const idSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an id is 1–64 letters, digits, ".", "_" or "-"');

export const certificateSchema = z.object({
  id: idSchema,
  customerId: z.string().min(1).max(64),
  type: z.enum(CERTIFICATE_TYPES),
  mode: modeSchema,
  validityDays: validityDaysSchema,
});
export type Certificate = z.infer<typeof certificateSchema>;

/** What a package's payload holds (docs/certificates.md, "The .lcs format"). */
export const packagePayloadSchema = z.object({
  format: z.literal('agora-license-certificates'),
  version: z.literal(1),
  packageId: idSchema,
  issuedAt: z.iso.datetime(),
  certificates: z.array(certificateSchema).min(1).max(MAX_PACKAGE_CERTIFICATES),
});
export type PackagePayload = z.infer<typeof packagePayloadSchema>;

export interface IssueLine {
  type: CertificateType;
  mode: string;
  validityDays: number | null;
  count: number;
}

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

/** A signed package of new certificates for one customer: the `.lcs` file's text. */
export function issuePackage(keys: SigningKeys, customerId: string, lines: IssueLine[], now: Date): { packageId: string; text: string; count: number } {
  const certificates: Certificate[] = [];
  for (const l of lines) for (let i = 0; i < l.count; i++) certificates.push({ id: newId('crt_'), customerId, type: l.type, mode: l.mode, validityDays: l.validityDays });
  if (certificates.length === 0 || certificates.length > MAX_PACKAGE_CERTIFICATES) {
    throw new AppError('invalid_parameter', `A package holds 1 to ${MAX_PACKAGE_CERTIFICATES} certificates`);
  }
  const payload: PackagePayload = { format: 'agora-license-certificates', version: 1, packageId: newId('pkg_'), issuedAt: now.toISOString(), certificates };
  return { packageId: payload.packageId, text: sealSigned('LCS1', keys, JSON.stringify(payload)), count: certificates.length };
}

/** A package's verified content, or an AppError naming what is wrong; never a part of it. */
export function readPackage(bytes: Uint8Array, verifying: Map<string, KeyObject>): PackagePayload {
  const opened = openSigned('LCS1', bytes, verifying);
  if (!opened.ok) throw new AppError(opened.code, opened.message);
  const parsed = packagePayloadSchema.safeParse(opened.payload);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new AppError('invalid_package', `The package's content is not valid: ${i.path.join('.') || 'payload'}: ${i.message}`);
  }
  const seen = new Set<string>();
  for (const c of parsed.data.certificates) {
    if (seen.has(c.id)) throw new AppError('invalid_package', `The package holds certificate ${c.id} twice`);
    seen.add(c.id);
  }
  return parsed.data;
}
