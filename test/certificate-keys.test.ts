import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEY_FILE, resolveSigningKeys, signingKeysFromConfig } from '../src/certificates/keys.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { newPem } from './helpers/certificates.ts';

const pubPem = (pem: string) => createPublicKey(pem).export({ format: 'pem', type: 'spki' }).toString();

describe('signing keys from the configuration', () => {
  it('creates a key in DATA_DIR on the embedded database outside production, once, and keeps it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'w12-keys-'));
    const first = resolveSigningKeys(loadConfig({ DATA_DIR: dir }));
    expect(first.generatedFile).toBe(join(dir, KEY_FILE));
    expect(statSync(first.generatedFile!).mode & 0o777).toBe(0o600);
    expect(readFileSync(first.generatedFile!, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const again = resolveSigningKeys(loadConfig({ DATA_DIR: dir }));
    expect(again.keys!.current.kid).toBe(first.keys!.current.kid);
    // Nothing private can leak through JSON (a log line, an answer).
    expect(JSON.stringify(first.keys)).not.toMatch(/PRIVATE|"d":/);
  });

  it('generates nothing in production or on an external database: no key, routes answer 503', () => {
    const dir = mkdtempSync(join(tmpdir(), 'w12-keys-'));
    expect(resolveSigningKeys(loadConfig({ DATA_DIR: dir, NODE_ENV: 'production' })).keys).toBeUndefined();
    expect(resolveSigningKeys(loadConfig({ DATA_DIR: dir, DATABASE_URL: 'postgres://x/y' })).keys).toBeUndefined();
  });

  it('takes LICENSE_SIGNING_KEY (newlines written as \\n too) and publishes the retired keys after the current one', () => {
    const current = newPem();
    const old = newPem();
    const keys = signingKeysFromConfig(loadConfig({ LICENSE_SIGNING_KEY: current.replace(/\n/g, '\\n'), LICENSE_RETIRED_PUBLIC_KEYS: pubPem(old) + pubPem(current) }))!;
    expect(keys.published.map((k) => k.publicKey)).toEqual([pubPem(current), pubPem(old)]);
    expect(keys.published[0]!.kid).toBe(keys.current.kid);
    expect(keys.current.kid).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a key that is not an Ed25519 PEM, naming the variable', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    for (const env of [
      { LICENSE_SIGNING_KEY: rsa },
      { LICENSE_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' },
      { LICENSE_SIGNING_KEY: newPem(), LICENSE_RETIRED_PUBLIC_KEYS: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' },
    ]) {
      let err: unknown;
      try {
        signingKeysFromConfig(loadConfig(env));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems[0]).toMatch(/^LICENSE_(SIGNING_KEY|RETIRED_PUBLIC_KEYS): /);
    }
    expect(() => loadConfig({ LICENSE_SIGNING_KEY: 'secret' })).toThrow(/LICENSE_SIGNING_KEY: must be a PEM private key/);
  });
});
