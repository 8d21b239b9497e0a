import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config.ts';
import { errnoCode } from '../errors.ts';

/** A public key as `/.well-known/license-keys` publishes it. */
export interface PublishedKey {
  kid: string;
  alg: 'Ed25519';
  /** SPKI PEM: what Node's `crypto.verify` and Python's `cryptography` load directly. */
  publicKey: string;
  /** The raw 32-byte key, base64url (JWK `x`): what libsodium and other C libraries take. */
  x: string;
}

/**
 * The vendor's signing keys: the current one (the only private key; a KeyObject, so it is never
 * serialized by accident — JSON.stringify writes `{}`) and every public key that still verifies.
 */
export interface SigningKeys {
  current: { kid: string; privateKey: KeyObject };
  /** kid → public key, the current one included. */
  verifying: Map<string, KeyObject>;
  published: PublishedKey[];
}

/** The key id: the first 16 hex digits of the SHA-256 of the raw public key, stable for a key. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

export function publish(publicKey: KeyObject): PublishedKey {
  return {
    kid: keyId(publicKey),
    alg: 'Ed25519',
    publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    x: rawPublicKey(publicKey).toString('base64url'),
  };
}

/** A PEM from the environment may have its newlines written as `\n`. */
const unescape = (pem: string) => pem.replace(/\\n/g, '\n');

export function parsePrivateKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(unescape(pem));
  } catch {
    throw new ConfigError([`${where}: not a PEM private key`]);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError([`${where}: an ${key.asymmetricKeyType ?? 'unknown'} key; an Ed25519 key is required`]);
  return key;
}

export function parsePublicKeys(text: string, where: string): KeyObject[] {
  const blocks = unescape(text).match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError([`${where}: no PEM public key found`]);
  return blocks.map((pem, i) => {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new ConfigError([`${where}: key ${i + 1} is not a PEM public key`]);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError([`${where}: key ${i + 1} is not an Ed25519 key`]);
    return key;
  });
}

export function signingKeysOf(privateKey: KeyObject, retired: KeyObject[] = []): SigningKeys {
  const current = createPublicKey(privateKey);
  const kid = keyId(current);
  const verifying = new Map<string, KeyObject>([[kid, current]]);
  for (const k of retired) if (!verifying.has(keyId(k))) verifying.set(keyId(k), k);
  return { current: { kid, privateKey }, verifying, published: [...verifying.values()].map(publish) };
}

/** A new Ed25519 private key as PKCS#8 PEM. */
export function generatePrivateKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The keys given in the configuration, if a private key is; never generates one. */
export function signingKeysFromConfig(config: Pick<Config, 'licenseSigningKey' | 'licenseRetiredPublicKeys'>): SigningKeys | undefined {
  if (!config.licenseSigningKey) return undefined;
  const retired = config.licenseRetiredPublicKeys ? parsePublicKeys(config.licenseRetiredPublicKeys, 'LICENSE_RETIRED_PUBLIC_KEYS') : [];
  return signingKeysOf(parsePrivateKey(config.licenseSigningKey, 'LICENSE_SIGNING_KEY'), retired);
}

export const KEY_FILE = 'license-signing-key.pem';

/**
 * The signing keys for `main`: from the environment, else — on the embedded database outside
 * production, like the other credentials (src/credentials.ts) — a key created once in DATA_DIR and
 * kept across restarts. Elsewhere without a key: undefined, and the routes that sign or verify
 * answer 503 signing_key_missing (the rest of the server works as before).
 */
export function resolveSigningKeys(config: Config): { keys: SigningKeys | undefined; generatedFile?: string } {
  const fromEnv = signingKeysFromConfig(config);
  if (fromEnv) return { keys: fromEnv };
  if (config.nodeEnv === 'production' || config.databaseUrl !== undefined) return { keys: undefined };
  const file = join(config.dataDir, KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      // Exclusive, as for credentials.json: two processes starting at once keep one key.
      writeFileSync(file, generatePrivateKeyPem(), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
  const retired = config.licenseRetiredPublicKeys ? parsePublicKeys(config.licenseRetiredPublicKeys, 'LICENSE_RETIRED_PUBLIC_KEYS') : [];
  return { keys: signingKeysOf(parsePrivateKey(readFileSync(file, 'utf8'), file), retired), generatedFile: file };
}
