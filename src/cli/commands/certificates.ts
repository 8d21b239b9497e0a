import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KEY_FILE, keyId, parsePrivateKey, parsePublicKeys, signingKeysOf, type SigningKeys } from '../../certificates/keys.ts';
import { CERTIFICATE_TYPES, issuePackage, MAX_PACKAGE_CERTIFICATES, packagePayloadSchema, type IssueLine } from '../../certificates/package.ts';
import { openSigned, type Magic } from '../../certificates/signed.ts';
import { ConfigError } from '../../config.ts';
import type { CertificateType } from '../../db/schema.ts';
import { z } from 'zod';
import { isJsonObject } from '../../json.ts';
import { EXIT, parseCommand, UsageError, type CliIo } from '../io.ts';

export const CERTIFICATES_USAGE = `Usage: agora-vendor certificates issue --customer ID --cert TYPE:MODE:DAYS[:COUNT] ... [--out FILE] [--key PEM]
       agora-vendor certificates inspect FILE [--keys URL-or-file]

issue    signs a .lcs package of new certificates for one customer, offline, with the signing key
         (--key FILE, else LICENSE_SIGNING_KEY, else DATA_DIR/${KEY_FILE}); written to --out or stdout.
         TYPE is platform, agent or platform-unlimited; DAYS a number of days or "permanent";
         COUNT how many such certificates (default 1). --cert may be given several times.
inspect  shows what a package holds and whether its signature verifies, with the public keys of
         --keys (the server's /.well-known/license-keys URL, or a file of that document or of PEM
         public keys), else the local signing key. Exit status 1 when it does not verify.

Example:
  agora-vendor certificates issue --customer 1234567 --cert platform:subscription:365 \\
    --cert agent:subscription:365:10 --out acme.lcs`;

export const LICENSE_FILE_USAGE = `Usage: agora-vendor license-file verify FILE [--keys URL-or-file]

Checks a license file offline: its signature (with the keys of --keys — the server's
/.well-known/license-keys URL, or a file of that document or of PEM public keys — else the local
signing key) and its validUntil, and prints what it grants. Exit status 1 when it does not verify
or has expired.`;

/** The signing key for `issue`: --key, else the environment, else the one `npm start` created. */
function localSigningKeys(io: CliIo, keyFile: string | undefined): SigningKeys | undefined {
  const fromFile = (file: string) => signingKeysOf(parsePrivateKey(readFileSync(file, 'utf8'), file));
  try {
    if (keyFile !== undefined) return fromFile(resolve(io.cwd, keyFile));
    if (io.env.LICENSE_SIGNING_KEY) return signingKeysOf(parsePrivateKey(io.env.LICENSE_SIGNING_KEY, 'LICENSE_SIGNING_KEY'));
    const file = resolve(io.cwd, io.env.DATA_DIR || './.data', KEY_FILE);
    return existsSync(file) ? fromFile(file) : undefined;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.problems.join('; '));
    throw err;
  }
}

/** Public keys to verify with: a key document (URL or file), a PEM file, or the local key's public half. */
async function verifyingKeys(io: CliIo, keys: string | undefined): Promise<{ keys: Map<string, KeyObject>; from: string } | undefined> {
  if (keys === undefined) {
    const local = localSigningKeys(io, undefined);
    return local ? { keys: local.verifying, from: 'the local signing key' } : undefined;
  }
  let text: string;
  if (/^https?:\/\//.test(keys)) {
    const r = await (io.fetch ?? fetch)(keys, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
    if (!r.ok) throw new Error(`${keys} answered ${r.status}`);
    text = await r.text();
  } else {
    text = readFileSync(resolve(io.cwd, keys), 'utf8');
  }
  const map = new Map<string, KeyObject>();
  if (text.includes('-----BEGIN PUBLIC KEY-----') && !text.trimStart().startsWith('{')) {
    for (const k of parsePublicKeys(text, keys)) map.set(keyId(k), k);
  } else {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new UsageError(`--keys ${keys}: neither a key document ({"keys":[…]}) nor PEM public keys`);
    }
    const list: unknown = isJsonObject(doc) ? doc['keys'] : undefined;
    for (const k of Array.isArray(list) ? list : []) {
      if (isJsonObject(k) && typeof k['kid'] === 'string' && typeof k['publicKey'] === 'string') map.set(k['kid'], createPublicKey(k['publicKey']));
    }
  }
  if (map.size === 0) throw new UsageError(`--keys ${keys}: no public keys in it`);
  return { keys: map, from: keys };
}

const isCertificateType = (t: string): t is CertificateType => CERTIFICATE_TYPES.some((c) => c === t);

/** JSON text as a value nothing is assumed of yet. */
const parseJson = (text: string): unknown => JSON.parse(text);

function parseCert(text: string): IssueLine {
  const [type, mode, days, count, ...rest] = text.split(':');
  if (!type || !mode || !days || rest.length > 0) throw new UsageError(`--cert ${text}: expected TYPE:MODE:DAYS[:COUNT]`);
  if (!isCertificateType(type)) throw new UsageError(`--cert ${text}: TYPE must be ${CERTIFICATE_TYPES.join(', ')}`);
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(mode)) throw new UsageError(`--cert ${text}: MODE is 1–32 letters, digits, '.', '_' or '-'`);
  if (days !== 'permanent' && !(/^\d{1,5}$/.test(days) && Number(days) >= 1 && Number(days) <= 36_500)) throw new UsageError(`--cert ${text}: DAYS is 1 to 36500 or "permanent"`);
  if (count !== undefined && !(/^\d{1,6}$/.test(count) && Number(count) >= 1 && Number(count) <= MAX_PACKAGE_CERTIFICATES)) {
    throw new UsageError(`--cert ${text}: COUNT is 1 to ${MAX_PACKAGE_CERTIFICATES}`);
  }
  return { type, mode, validityDays: days === 'permanent' ? null : Number(days), count: count === undefined ? 1 : Number(count) };
}

function readFile(io: CliIo, file: string | undefined): Uint8Array {
  if (file === undefined) throw new UsageError('FILE is required');
  const path = resolve(io.cwd, file);
  if (!existsSync(path)) throw new UsageError(`${file}: no such file`);
  return readFileSync(path);
}

/** Opens a signed file: verified with the keys when there are any, else only decoded. */
async function open(io: CliIo, magic: Magic, bytes: Uint8Array, keysArg: string | undefined, what: string) {
  const keys = await verifyingKeys(io, keysArg);
  if (keys) return { opened: openSigned(magic, bytes, keys.keys, what), from: keys.from };
  // No key at hand: read the payload anyway to show it, and say that nothing was verified.
  const parts = Buffer.from(bytes).toString('ascii').trim().split('.');
  const decoded = openSigned(magic, bytes, new Map(), what);
  if (decoded.ok || decoded.code !== 'unknown_signing_key' || parts.length !== 4) return { opened: decoded, from: undefined };
  return { opened: { ok: true as const, kid: parts[1]!, payload: parseJson(Buffer.from(parts[2]!, 'base64url').toString('utf8')) }, from: undefined };
}

export async function certificatesCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'issue') {
    const { values, positionals } = parseCommand(rest, { customer: { type: 'string' }, cert: { type: 'string', multiple: true }, out: { type: 'string' }, key: { type: 'string' } });
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
    if (!values.customer || !/^[^\u0000-\u001f\u007f/]{1,64}$/.test(values.customer)) throw new UsageError('--customer ID is required (1–64 characters)');
    const lines = (values.cert ?? []).map(parseCert);
    if (lines.length === 0) throw new UsageError('at least one --cert is required');
    const keys = localSigningKeys(io, values.key);
    if (!keys) throw new UsageError('no signing key: give --key FILE or set LICENSE_SIGNING_KEY');
    const total = lines.reduce((n, l) => n + l.count, 0);
    if (total > MAX_PACKAGE_CERTIFICATES) throw new UsageError(`a package holds at most ${MAX_PACKAGE_CERTIFICATES} certificates; asked for ${total}`);
    const pkg = issuePackage(keys, values.customer, lines, io.now?.() ?? new Date());
    if (values.out !== undefined) {
      writeFileSync(resolve(io.cwd, values.out), pkg.text);
      io.stderr.write(`${pkg.count} certificates for customer ${values.customer} in ${values.out} (package ${pkg.packageId}, key ${keys.current.kid})\n`);
    } else {
      io.stdout.write(pkg.text);
    }
    return EXIT.ok;
  }
  if (sub === 'inspect') {
    const { values, positionals } = parseCommand(rest, { keys: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new UsageError('inspect takes one FILE');
    const { opened, from } = await open(io, 'LCS1', readFile(io, positionals[0]), values.keys, 'package');
    if (!opened.ok) {
      io.stdout.write(`signature: REFUSED (${opened.code}): ${opened.message}\n`);
      return EXIT.failed;
    }
    const parsed = packagePayloadSchema.safeParse(opened.payload);
    if (!parsed.success) {
      io.stdout.write(`content: NOT VALID: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}\n`);
      return EXIT.failed;
    }
    const p = parsed.data;
    const groups = new Map<string, number>();
    for (const c of p.certificates) {
      const key = `${c.customerId}  ${c.type}  ${c.mode}  ${c.validityDays === null ? 'permanent' : `${c.validityDays} days`}`;
      groups.set(key, (groups.get(key) ?? 0) + 1);
    }
    io.stdout.write(
      [
        `package ${p.packageId}, issued ${p.issuedAt}, key ${opened.kid}`,
        from ? `signature: verified (keys from ${from})` : 'signature: NOT CHECKED (no --keys and no local signing key)',
        `${p.certificates.length} certificates:`,
        ...[...groups].map(([k, n]) => `  ${String(n).padStart(6)} × ${k}`),
      ].join('\n') + '\n',
    );
    return from ? EXIT.ok : EXIT.failed;
  }
  throw new UsageError(sub === undefined ? 'a subcommand is required: issue or inspect' : `unknown subcommand ${JSON.stringify(sub)}`);
}

const expiry = z.object({ expiresAt: z.string().nullable(), permanent: z.boolean() });

/**
 * What `license-file verify` prints of a license file's payload (src/certificates/license-file.ts
 * writes it); other members are kept, and arrays among them (sources added later, Agora's grants
 * say) are counted by name.
 */
const licenseFilePayloadSchema = z
  .object({
    projectId: z.string().optional(),
    customerId: z.string().optional(),
    issuedAt: z.string().optional(),
    validUntil: z.string().optional(),
    licenses: z.array(z.object({ licenseKey: z.string(), pid: z.string(), expiresAt: z.string().nullable() }).passthrough()).optional(),
    platform: expiry.passthrough().nullable().optional(),
    agents: z.array(expiry.extend({ agentId: z.string() }).passthrough()).optional(),
    certificates: z.array(z.unknown()).optional(),
  })
  .passthrough();

export async function licenseFileCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') throw new UsageError(sub === undefined ? 'a subcommand is required: verify' : `unknown subcommand ${JSON.stringify(sub)}`);
  const { values, positionals } = parseCommand(rest, { keys: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UsageError('verify takes one FILE');
  const { opened, from } = await open(io, 'ALF1', readFile(io, positionals[0]), values.keys, 'license file');
  if (!opened.ok) {
    io.stdout.write(`signature: REFUSED (${opened.code}): ${opened.message}\n`);
    return EXIT.failed;
  }
  // Signed by a key of ours does not make it a payload this version reads (a newer server's, say):
  // checked, and any other shape answered in words rather than as a crash halfway through.
  const parsed = licenseFilePayloadSchema.safeParse(opened.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    io.stdout.write(`signature: verified, but the payload is not a license file this version reads (${issue ? `${issue.path.join('.') || 'payload'}: ${issue.message}` : 'unknown shape'})\n`);
    return EXIT.failed;
  }
  const f = parsed.data;
  const now = io.now?.() ?? new Date();
  const validUntil = typeof f.validUntil === 'string' ? new Date(f.validUntil) : new Date(NaN);
  const current = validUntil.getTime() > now.getTime();
  const until = (e: { expiresAt: string | null; permanent: boolean }) => (e.permanent ? 'permanent' : (e.expiresAt ?? 'not licensed'));
  const lines = [
    `license file of project ${f.projectId}, customer ${f.customerId}, key ${opened.kid}`,
    from ? `signature: verified (keys from ${from})` : 'signature: NOT CHECKED (no --keys and no local signing key)',
    `issued ${f.issuedAt}, valid until ${f.validUntil}: ${current ? 'current' : 'EXPIRED — fetch it again'}`,
    `${f.licenses?.length ?? 0} device licenses`,
    ...(f.licenses ?? []).slice(0, 20).map((l) => `  ${l.licenseKey}  ${l.pid}  until ${l.expiresAt ?? 'no end'}`),
    ...((f.licenses?.length ?? 0) > 20 ? [`  … and ${f.licenses!.length - 20} more`] : []),
    `platform: ${f.platform ? until(f.platform) : 'not licensed'}`,
    `${f.agents?.length ?? 0} agents`,
    ...(f.agents ?? []).slice(0, 20).map((a) => `  ${a.agentId}  until ${until(a)}`),
    `${f.certificates?.length ?? 0} certificates in force`,
    // Sources added later (Agora grants, say) are listed by name.
    ...Object.entries(f).flatMap(([k, v]) => (Array.isArray(v) && !['licenses', 'agents', 'certificates'].includes(k) ? [`${v.length} ${k}`] : [])),
  ];
  io.stdout.write(lines.join('\n') + '\n');
  return from && current ? EXIT.ok : EXIT.failed;
}
