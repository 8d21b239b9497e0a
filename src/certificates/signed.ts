import { sign, verify, type KeyObject } from 'node:crypto';
import type { SigningKeys } from './keys.ts';

/**
 * The one signed format of certificate packages and license files (docs/certificates.md):
 *
 *     MAGIC "." kid "." base64url(payload) "." base64url(signature) [newline]
 *
 * The signature is Ed25519 over the ASCII bytes of `MAGIC.kid.payload` (everything before the last
 * dot), so the signed bytes are exactly the bytes of the file: no canonical JSON is needed, and a
 * changed byte anywhere fails. The magic names what the file is (`LCS1` a certificate package,
 * `ALF1` a license file), so one can never be taken for the other.
 */
export type Magic = 'LCS1' | 'ALF1';

export type Opened =
  | { ok: true; kid: string; payload: unknown }
  | { ok: false; code: 'invalid_package' | 'unknown_signing_key' | 'package_signature_invalid'; message: string };

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Signs `payloadJson` (JSON text) into the file's text. */
export function sealSigned(magic: Magic, keys: SigningKeys, payloadJson: string): string {
  const head = `${magic}.${keys.current.kid}.${Buffer.from(payloadJson, 'utf8').toString('base64url')}`;
  const signature = sign(null, Buffer.from(head, 'ascii'), keys.current.privateKey);
  return `${head}.${signature.toString('base64url')}\n`;
}

/** Checks a file's form and signature against the given public keys, and answers its payload. */
export function openSigned(magic: Magic, bytes: Uint8Array, verifying: Map<string, KeyObject>, what = 'package'): Opened {
  const bad = (message: string): Opened => ({ ok: false, code: 'invalid_package', message });
  if (bytes.length === 0) return bad(`The ${what} is empty`);
  for (const b of bytes) {
    // Printable ASCII and line ends only: anything else is a binary file, not one of ours.
    if (b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d)) return bad(`The ${what} is not text: it holds a byte 0x${b.toString(16).padStart(2, '0')}`);
  }
  const text = Buffer.from(bytes).toString('ascii').replace(/\r?\n$/, '');
  const parts = text.split('.');
  if (parts[0] !== magic) return bad(`Not a ${what}: it does not start with "${magic}."`);
  const [, kid, payload, signature] = parts;
  if (parts.length !== 4 || kid === undefined || payload === undefined || signature === undefined) {
    return bad(`The ${what} is truncated or malformed: expected ${magic}.kid.payload.signature`);
  }
  for (const [name, value] of [['payload', payload], ['signature', signature]] as const) {
    // Canonical base64url only: a broken or padded encoding would decode to something else.
    if (!B64URL.test(value) || Buffer.from(value, 'base64url').toString('base64url') !== value) return bad(`The ${what}'s ${name} is not valid base64url`);
  }
  const key = verifying.get(kid);
  if (!key) return { ok: false, code: 'unknown_signing_key', message: `The ${what} is signed with key ${JSON.stringify(kid.slice(0, 40))}, which is not one of this vendor's keys` };
  const sig = Buffer.from(signature, 'base64url');
  const head = text.slice(0, text.lastIndexOf('.'));
  if (sig.length !== 64 || !verify(null, Buffer.from(head, 'ascii'), key, sig)) {
    return { ok: false, code: 'package_signature_invalid', message: `The ${what}'s signature does not verify: it was changed or signed with another key` };
  }
  try {
    return { ok: true, kid, payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) };
  } catch {
    return bad(`The ${what}'s payload is not JSON`);
  }
}
