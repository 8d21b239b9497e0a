import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hmacBase64,
  javaUrlEncode,
  normalizeSignature,
  paramText,
  rfc3986Encode,
  sign,
  signedBody,
  signedGetUrl,
  sourceString,
  verifySignature,
} from '../src/agora/signature.ts';

// Test vectors from shared/spec/agora-callbacks.md, "Test vectors".
const SECRET = 'U1SXE6k57vxVRjTomgquwC2F3tH8ziOB';
const API_KEY = 'pzD5XinRSlmA64tZx81fL92YcBsJK0gd';

const USAGE_PARAMS = { fromTs: '1619913600', toTs: '1619917200', pageNum: '1', apiKey: API_KEY };
const USAGE_SOURCE =
  'GET&%2Fusage&apiKey%3DpzD5XinRSlmA64tZx81fL92YcBsJK0gd%26fromTs%3D1619913600%26pageNum%3D1%26toTs%3D1619917200';
const USAGE_SIG = 'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D';

const LICENSE_PATH = '/customers/1234567/license';
const LICENSE_PARAMS = { apiKey: API_KEY };
const LICENSE_SOURCE = 'GET&%2Fcustomers%2F1234567%2Flicense&apiKey%3DpzD5XinRSlmA64tZx81fL92YcBsJK0gd';
const LICENSE_SIG = 'BrRMMU3XbvdsyPDoTXkwYBEOkyE%3D';

const PROJECT_PATH = '/customers/123456/projects/new';
const PROJECT_BODY = { projectId: 430892, apiKey: API_KEY };
const PROJECT_SOURCE =
  'POST&%2Fcustomers%2F123456%2Fprojects%2Fnew&apiKey%3DpzD5XinRSlmA64tZx81fL92YcBsJK0gd%26projectId%3D430892';
const PROJECT_SIG = 'QRJDBm3gGmlFb5ZF9XBqm7u4EkI=';

/** The HMAC-SHA1 of a source string, computed independently of the module under test. */
function refHmac(secret: string, source: string): string {
  return createHmac('sha1', `${secret}&`).update(source, 'utf8').digest('base64');
}

/** Java's URLEncoder.encode(s, "UTF-8"), written independently: encodeURIComponent then fix-ups. */
function refJavaEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2A/g, '*')
    .replace(/%20/g, '+');
}

/** RFC 3986 encoding, written independently. */
function refRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

describe('published test vectors', () => {
  it('GET /usage: source string and URL-encoded signature', () => {
    expect(sourceString('GET', '/usage', USAGE_PARAMS)).toBe(USAGE_SOURCE);
    expect(sign('GET', '/usage', USAGE_PARAMS, SECRET)).toBe(USAGE_SIG);
    expect(hmacBase64(SECRET, USAGE_SOURCE)).toBe('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=');
  });

  it('GET /customers/{id}/license: source string and URL-encoded signature', () => {
    expect(sourceString('GET', LICENSE_PATH, LICENSE_PARAMS)).toBe(LICENSE_SOURCE);
    expect(sign('GET', LICENSE_PATH, LICENSE_PARAMS, SECRET)).toBe(LICENSE_SIG);
    expect(hmacBase64(SECRET, LICENSE_SOURCE)).toBe('BrRMMU3XbvdsyPDoTXkwYBEOkyE=');
  });

  it('POST /customers/{id}/projects/new: source string and plain base64 signature', () => {
    expect(sourceString('POST', PROJECT_PATH, PROJECT_BODY)).toBe(PROJECT_SOURCE);
    expect(sign('POST', PROJECT_PATH, PROJECT_BODY, SECRET)).toBe(PROJECT_SIG);
    expect(hmacBase64(SECRET, PROJECT_SOURCE)).toBe(PROJECT_SIG);
  });

  it('the vectors agree with an independent HMAC-SHA1', () => {
    expect(refHmac(SECRET, USAGE_SOURCE)).toBe('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=');
    expect(refHmac(SECRET, LICENSE_SOURCE)).toBe('BrRMMU3XbvdsyPDoTXkwYBEOkyE=');
    expect(refHmac(SECRET, PROJECT_SOURCE)).toBe(PROJECT_SIG);
  });

  it('the value Agora prints for the POST vector is not what HMAC-SHA1 gives', () => {
    expect(sign('POST', PROJECT_PATH, PROJECT_BODY, SECRET)).not.toBe('YZOl2v5q3I7o0x3F13tpnkq5aDI=');
    expect(verifySignature('POST', PROJECT_PATH, PROJECT_BODY, SECRET, 'YZOl2v5q3I7o0x3F13tpnkq5aDI=')).toBe(false);
  });

  it('the signature field itself is left out of the source string', () => {
    expect(sourceString('GET', '/usage', { ...USAGE_PARAMS, signature: USAGE_SIG })).toBe(USAGE_SOURCE);
    expect(sourceString('POST', PROJECT_PATH, { ...PROJECT_BODY, signature: PROJECT_SIG })).toBe(PROJECT_SOURCE);
  });

  it('the method is upper-cased in the source string', () => {
    expect(sourceString('get', '/usage', USAGE_PARAMS)).toBe(USAGE_SOURCE);
    expect(sign('get', '/usage', USAGE_PARAMS, SECRET)).toBe(USAGE_SIG);
  });

  it('verifies all three vectors, with the GET signatures URL-encoded and decoded', () => {
    expect(verifySignature('GET', '/usage', { ...USAGE_PARAMS, signature: USAGE_SIG }, SECRET, USAGE_SIG)).toBe(true);
    expect(verifySignature('GET', '/usage', USAGE_PARAMS, SECRET, 'SFVnCVlRbrZcjMPGTWVxAE4QWZ8=')).toBe(true);
    expect(verifySignature('GET', LICENSE_PATH, LICENSE_PARAMS, SECRET, LICENSE_SIG)).toBe(true);
    expect(verifySignature('GET', LICENSE_PATH, LICENSE_PARAMS, SECRET, 'BrRMMU3XbvdsyPDoTXkwYBEOkyE=')).toBe(true);
    expect(verifySignature('POST', PROJECT_PATH, { ...PROJECT_BODY, signature: PROJECT_SIG }, SECRET, PROJECT_SIG)).toBe(true);
  });
});

describe('javaUrlEncode (Java URLEncoder.encode(s, "UTF-8"))', () => {
  it('keeps letters, digits and . - * _', () => {
    const kept = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*_';
    expect(javaUrlEncode(kept)).toBe(kept);
  });

  it('turns a space into + and encodes +', () => {
    expect(javaUrlEncode('a b')).toBe('a+b');
    expect(javaUrlEncode('  ')).toBe('++');
    expect(javaUrlEncode('a+b')).toBe('a%2Bb');
  });

  it('encodes ~ and the other reserved ASCII characters', () => {
    expect(javaUrlEncode('~')).toBe('%7E');
    expect(javaUrlEncode('!')).toBe('%21');
    expect(javaUrlEncode("'()")).toBe('%27%28%29');
    expect(javaUrlEncode('&=/?#%:@,;$')).toBe('%26%3D%2F%3F%23%25%3A%40%2C%3B%24');
    expect(javaUrlEncode('\n\t')).toBe('%0A%09');
    expect(javaUrlEncode('"<>\\^`{|}[]')).toBe('%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D');
  });

  it('encodes UTF-8 multi-byte characters as upper-case %XX per byte', () => {
    expect(javaUrlEncode('é')).toBe('%C3%A9');
    expect(javaUrlEncode('×')).toBe('%C3%97');
    expect(javaUrlEncode('€')).toBe('%E2%82%AC');
    expect(javaUrlEncode('中文')).toBe('%E4%B8%AD%E6%96%87');
    expect(javaUrlEncode('😀')).toBe('%F0%9F%98%80');
    expect(javaUrlEncode('\u00ff')).toBe('%C3%BF');
  });

  it('pads single-digit bytes to two hex digits', () => {
    expect(javaUrlEncode('\u0001')).toBe('%01');
    expect(javaUrlEncode('\u0000')).toBe('%00');
  });

  it('encodes a whole source-string tail like the spec', () => {
    expect(javaUrlEncode('/usage')).toBe('%2Fusage');
    expect(javaUrlEncode('apiKey=abc&fromTs=1')).toBe('apiKey%3Dabc%26fromTs%3D1');
  });

  it('property: matches an independent Java-style encoder on any unicode text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(javaUrlEncode(s)).toBe(refJavaEncode(s));
      }),
      { numRuns: 500 },
    );
  });

  it('property: output contains only letters, digits, . - * _ + and upper-case %XX', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(javaUrlEncode(s)).toMatch(/^(?:[A-Za-z0-9.\-*_+]|%[0-9A-F]{2})*$/);
      }),
    );
  });

  it('property: decodes back to the input (form decoding: + is a space)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(decodeURIComponent(javaUrlEncode(s).replace(/\+/g, ' '))).toBe(s);
      }),
    );
  });
});

describe('rfc3986Encode', () => {
  it('keeps the unreserved characters, including ~', () => {
    const kept = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~';
    expect(rfc3986Encode(kept)).toBe(kept);
  });

  it('encodes a space as %20 and * and + as %XX', () => {
    expect(rfc3986Encode('a b')).toBe('a%20b');
    expect(rfc3986Encode('*')).toBe('%2A');
    expect(rfc3986Encode('+')).toBe('%2B');
    expect(rfc3986Encode('!\'()')).toBe('%21%27%28%29');
  });

  it('encodes UTF-8 bytes upper-case', () => {
    expect(rfc3986Encode('é€😀')).toBe('%C3%A9%E2%82%AC%F0%9F%98%80');
  });

  it('property: matches an independent RFC 3986 encoder', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(rfc3986Encode(s)).toBe(refRfc3986(s));
      }),
      { numRuns: 500 },
    );
  });
});

describe('paramText', () => {
  it('writes body fields as they enter the source string', () => {
    expect(paramText('abc')).toBe('abc');
    expect(paramText(430892)).toBe('430892');
    expect(paramText(true)).toBe('true');
    expect(paramText(false)).toBe('false');
    expect(paramText(null)).toBe('');
    expect(paramText(undefined)).toBe('');
    expect(paramText({ a: 1 })).toBe('{"a":1}');
  });
});

describe('sourceString', () => {
  it('sorts keys in ascending code-unit order (upper case before lower case)', () => {
    expect(sourceString('GET', '/p', { b: '2', a: '1', B: '3', a1: '4' })).toBe(
      `GET&%2Fp&${javaUrlEncode('B=3&a=1&a1=4&b=2')}`,
    );
  });

  it('an empty parameter set leaves an empty tail', () => {
    expect(sourceString('PUT', '/customers/1/deactivate', {})).toBe('PUT&%2Fcustomers%2F1%2Fdeactivate&');
  });

  it('can be built with the RFC 3986 encoder', () => {
    expect(sourceString('GET', '/p', { q: 'a b*~' }, rfc3986Encode)).toBe('GET&%2Fp&q%3Da%20b%2A~');
    expect(sourceString('GET', '/p', { q: 'a b*~' })).toBe('GET&%2Fp&q%3Da+b*%7E');
  });
});

describe('normalizeSignature', () => {
  const bytes = Buffer.from('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=', 'base64');

  it('gives the 20 HMAC bytes for the plain and URL-encoded forms', () => {
    expect(normalizeSignature('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=')?.equals(bytes)).toBe(true);
    expect(normalizeSignature('SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D')?.equals(bytes)).toBe(true);
    expect(normalizeSignature('SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3d')?.equals(bytes)).toBe(true);
  });

  it('rejects non-signatures', () => {
    expect(normalizeSignature('')).toBeNull();
    expect(normalizeSignature('abc')).toBeNull();
    expect(normalizeSignature('%E0%A4%A')).toBeNull();
    expect(normalizeSignature('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=SFVn')).toBeNull();
    expect(normalizeSignature(Buffer.alloc(32).toString('base64'))).toBeNull();
    expect(normalizeSignature('SFVnCVlRbrZcjMPGTWVxAE4QWZ8!')).toBeNull();
  });
});

describe('verifySignature', () => {
  const path = '/usage';
  const params = { ...USAGE_PARAMS };

  it('accepts the URL-encoded form, the decoded base64 form, and surrounding whitespace', () => {
    expect(verifySignature('GET', path, params, SECRET, 'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D')).toBe(true);
    expect(verifySignature('GET', path, params, SECRET, 'SFVnCVlRbrZcjMPGTWVxAE4QWZ8=')).toBe(true);
    expect(verifySignature('GET', path, params, SECRET, ' SFVnCVlRbrZcjMPGTWVxAE4QWZ8=\n')).toBe(true);
  });

  it('accepts a GET signature whose + was turned into a space by form decoding', () => {
    // Find parameters whose signature has a '+' in the middle.
    let found = false;
    for (let i = 0; i < 2000 && !found; i++) {
      const p = { apiKey: API_KEY, n: String(i) };
      const b64 = hmacBase64(SECRET, sourceString('GET', path, p));
      if (!b64.slice(1).includes('+')) continue;
      found = true;
      const spaced = b64.replace(/\+/g, ' ');
      expect(spaced).not.toBe(b64);
      expect(verifySignature('GET', path, p, SECRET, spaced)).toBe(true);
      expect(verifySignature('GET', path, p, SECRET, b64)).toBe(true);
      expect(verifySignature('GET', path, p, SECRET, javaUrlEncode(b64))).toBe(true);
      expect(javaUrlEncode(b64)).toContain('%2B');
    }
    expect(found).toBe(true);
  });

  it('accepts a GET signature that starts with + turned into a space by form decoding', () => {
    // Base64 can start with '+' (1 signature in 64); form decoding then makes it start with a space.
    const p = { apiKey: API_KEY, n: '26' };
    const b64 = hmacBase64(SECRET, sourceString('GET', path, p));
    expect(b64).toBe('+S/6gxWaMQ0lDtJ5rdN4xgUxzMA=');
    expect(verifySignature('GET', path, p, SECRET, b64)).toBe(true);
    expect(verifySignature('GET', path, p, SECRET, javaUrlEncode(b64))).toBe(true);
    expect(verifySignature('GET', path, p, SECRET, ' S/6gxWaMQ0lDtJ5rdN4xgUxzMA=')).toBe(true);
  });

  it('accepts a source string signed with RFC 3986 encoding', () => {
    for (const value of ['a b', 'x*y', 'tilde~', 'all of * ~ and é']) {
      const p = { apiKey: API_KEY, q: value };
      const rfcSig = hmacBase64(SECRET, sourceString('GET', path, p, rfc3986Encode));
      const javaSig = hmacBase64(SECRET, sourceString('GET', path, p, javaUrlEncode));
      // The two encodings differ for these values, so the RFC path is really exercised.
      expect(rfcSig).not.toBe(javaSig);
      expect(verifySignature('GET', path, p, SECRET, rfcSig)).toBe(true);
      expect(verifySignature('GET', path, p, SECRET, javaUrlEncode(rfcSig))).toBe(true);
      expect(verifySignature('POST', path, p, SECRET, hmacBase64(SECRET, sourceString('POST', path, p, rfc3986Encode)))).toBe(true);
      // ...but not for another value.
      expect(verifySignature('GET', path, { ...p, q: `${value}!` }, SECRET, rfcSig)).toBe(false);
    }
  });

  it('accepts a source string signed with RFC 3986 encoding, computed independently', () => {
    const p = { apiKey: API_KEY, description: '1 Minute × plan (tier*1) ~x' };
    const pairs = `apiKey=${API_KEY}&description=${p.description}`;
    const source = `GET&${refRfc3986(path)}&${refRfc3986(pairs)}`;
    expect(verifySignature('GET', path, p, SECRET, refHmac(SECRET, source))).toBe(true);
    const javaSource = `GET&${refJavaEncode(path)}&${refJavaEncode(pairs)}`;
    expect(verifySignature('GET', path, p, SECRET, refHmac(SECRET, javaSource))).toBe(true);
  });

  it('rejects a wrong secret', () => {
    expect(verifySignature('GET', path, params, 'another-secret', USAGE_SIG)).toBe(false);
    expect(verifySignature('GET', path, params, `${SECRET}x`, USAGE_SIG)).toBe(false);
    expect(verifySignature('GET', path, params, '', USAGE_SIG)).toBe(false);
  });

  it('rejects a changed parameter value', () => {
    expect(verifySignature('GET', path, { ...params, pageNum: '2' }, SECRET, USAGE_SIG)).toBe(false);
    expect(verifySignature('GET', path, { ...params, toTs: '1619917201' }, SECRET, USAGE_SIG)).toBe(false);
    expect(verifySignature('POST', PROJECT_PATH, { ...PROJECT_BODY, projectId: 430893 }, SECRET, PROJECT_SIG)).toBe(false);
  });

  it('rejects an added parameter', () => {
    expect(verifySignature('GET', path, { ...params, limit: '100' }, SECRET, USAGE_SIG)).toBe(false);
    expect(verifySignature('GET', path, { ...params, extra: '' }, SECRET, USAGE_SIG)).toBe(false);
  });

  it('rejects a removed parameter', () => {
    const { pageNum: _omit, ...fewer } = params;
    expect(verifySignature('GET', path, fewer, SECRET, USAGE_SIG)).toBe(false);
  });

  it('rejects a signature made for another path', () => {
    expect(verifySignature('GET', '/bill', params, SECRET, USAGE_SIG)).toBe(false);
    expect(verifySignature('GET', '/customers/1234568/license', LICENSE_PARAMS, SECRET, LICENSE_SIG)).toBe(false);
    expect(verifySignature('POST', '/customers/123457/projects/new', PROJECT_BODY, SECRET, PROJECT_SIG)).toBe(false);
    const billSig = sign('GET', '/bill', params, SECRET);
    expect(verifySignature('GET', '/bill', params, SECRET, billSig)).toBe(true);
    expect(verifySignature('GET', '/usage', params, SECRET, billSig)).toBe(false);
  });

  it('rejects a signature made for another method', () => {
    expect(verifySignature('PUT', PROJECT_PATH, PROJECT_BODY, SECRET, PROJECT_SIG)).toBe(false);
    expect(verifySignature('GET', PROJECT_PATH, PROJECT_BODY, SECRET, PROJECT_SIG)).toBe(false);
    expect(verifySignature('POST', path, params, SECRET, USAGE_SIG)).toBe(false);
    const putSig = sign('PUT', '/customers/1/deactivate', { apiKey: API_KEY }, SECRET);
    expect(verifySignature('PUT', '/customers/1/deactivate', { apiKey: API_KEY }, SECRET, putSig)).toBe(true);
    expect(verifySignature('POST', '/customers/1/deactivate', { apiKey: API_KEY }, SECRET, putSig)).toBe(false);
  });

  it('rejects garbage, short, long and non-base64 signatures', () => {
    for (const bad of [
      '',
      ' ',
      'x',
      'SFVnCVlRbrZcjMPGTWVx',
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8==SFVn',
      `${'SFVnCVlRbrZcjMPGTWVxAE4QWZ8='}AAAA`,
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8=='.replace('==', '-_'),
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8*',
      'SFVn.VlRbrZcjMPGTWVxAE4QWZ8=',
      'not a signature at all!!!!!',
      '%%%%',
      '====',
      Buffer.alloc(20).toString('base64'),
      Buffer.from('SFVnCVlRbrZcjMPGTWVxAE4QWZ8=', 'base64').toString('hex'),
    ]) {
      expect(verifySignature('GET', path, params, SECRET, bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('rejects a signature with one character changed', () => {
    const good = 'SFVnCVlRbrZcjMPGTWVxAE4QWZ8=';
    for (let i = 0; i < 26; i++) {
      const c = good[i] === 'A' ? 'B' : 'A';
      const bad = good.slice(0, i) + c + good.slice(i + 1);
      expect(verifySignature('GET', path, params, SECRET, bad), bad).toBe(false);
    }
  });

  it('rejects malformed percent sequences', () => {
    for (const bad of [
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3',
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%',
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%ZZ',
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%E0',
      '%SFVnCVlRbrZcjMPGTWVxAE4QWZ8=',
      // Encoded twice: decoded once it is still not base64.
      'SFVnCVlRbrZcjMPGTWVxAE4QWZ8%253D',
    ]) {
      expect(() => verifySignature('GET', path, params, SECRET, bad)).not.toThrow();
      expect(verifySignature('GET', path, params, SECRET, bad), bad).toBe(false);
    }
  });

  it('a signed body verifies for the method it was signed for', () => {
    const body = signedBody('PUT', '/customers/9/projects/7/deactivate', { apiKey: API_KEY }, SECRET);
    expect(typeof body.signature).toBe('string');
    expect(verifySignature('PUT', '/customers/9/projects/7/deactivate', body, SECRET, body.signature as string)).toBe(true);
    expect(verifySignature('POST', '/customers/9/projects/7/deactivate', body, SECRET, body.signature as string)).toBe(false);
  });

  it('signedGetUrl reproduces the published usage request', () => {
    const url = signedGetUrl('/usage', { fromTs: 1619913600, toTs: 1619917200, pageNum: 1, apiKey: API_KEY }, SECRET);
    expect(url).toBe(
      `/usage?fromTs=1619913600&toTs=1619917200&pageNum=1&apiKey=${API_KEY}&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.split('');
const keyArb = fc
  .string({ unit: fc.constantFrom(...KEY_CHARS), minLength: 1, maxLength: 12 })
  .filter((k) => k !== 'signature');
const valueArb = fc.string({ unit: 'binary', maxLength: 40 });
const paramsArb = fc.dictionary(keyArb, valueArb, { minKeys: 0, maxKeys: 8 });
const nonEmptyParamsArb = fc.dictionary(keyArb, valueArb, { minKeys: 1, maxKeys: 8 });
const secretArb = fc.string({ unit: 'binary', minLength: 0, maxLength: 40 });
const methodArb = fc.constantFrom('GET', 'POST', 'PUT');
const pathArb = fc.constantFrom('/usage', '/bill', '/customers/1234567/license', '/customers/new', '/customers/x y/projects/new');

describe('properties', () => {
  it('a signature verifies for the request it was made for (GET, POST, PUT)', () => {
    fc.assert(
      fc.property(methodArb, pathArb, paramsArb, secretArb, (m, path, params, secret) => {
        expect(verifySignature(m, path, params, secret, sign(m, path, params, secret))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the GET signature also verifies once URL-decoded', () => {
    fc.assert(
      fc.property(pathArb, paramsArb, secretArb, (path, params, secret) => {
        const sig = sign('GET', path, params, secret);
        expect(sig).toMatch(/^[A-Za-z0-9%]+$/);
        expect(verifySignature('GET', path, params, secret, decodeURIComponent(sig))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('changing any single value to a different string makes verification fail', () => {
    fc.assert(
      fc.property(
        methodArb,
        pathArb,
        nonEmptyParamsArb,
        secretArb,
        fc.nat(),
        valueArb,
        (m, path, params, secret, pick, replacement) => {
          const keys = Object.keys(params);
          const key = keys[pick % keys.length]!;
          fc.pre(params[key] !== replacement);
          const sig = sign(m, path, params, secret);
          expect(verifySignature(m, path, { ...params, [key]: replacement }, secret, sig)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a GET signature verifies with every + turned into a space (form decoding)', () => {
    fc.assert(
      fc.property(pathArb, paramsArb, secretArb, (path, params, secret) => {
        const b64 = hmacBase64(secret, sourceString('GET', path, params));
        expect(verifySignature('GET', path, params, secret, b64.replace(/\+/g, ' '))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a different secret makes verification fail', () => {
    fc.assert(
      fc.property(methodArb, pathArb, paramsArb, secretArb, secretArb, (m, path, params, s1, s2) => {
        fc.pre(s1 !== s2);
        expect(verifySignature(m, path, params, s2, sign(m, path, params, s1))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('key order in the object does not matter', () => {
    fc.assert(
      fc.property(methodArb, pathArb, paramsArb, secretArb, fc.infiniteStream(fc.nat()), (m, path, params, secret, rnd) => {
        const entries = Object.entries(params);
        // Fisher-Yates shuffle driven by fast-check.
        const iter = rnd[Symbol.iterator]();
        for (let i = entries.length - 1; i > 0; i--) {
          const j = (iter.next().value as number) % (i + 1);
          [entries[i], entries[j]] = [entries[j]!, entries[i]!];
        }
        const shuffled = Object.fromEntries(entries);
        const reversed = Object.fromEntries(Object.entries(params).reverse());
        expect(sourceString(m, path, shuffled)).toBe(sourceString(m, path, params));
        expect(sign(m, path, shuffled, secret)).toBe(sign(m, path, params, secret));
        expect(verifySignature(m, path, reversed, secret, sign(m, path, params, secret))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('signedGetUrl parses back into parameters that verify (as the server reads them)', () => {
    fc.assert(
      fc.property(pathArb, paramsArb, secretArb, (path, params, secret) => {
        const url = signedGetUrl(path, params, secret);
        const parsed = new URL(`http://x${url}`);
        // As the server reads a query: no prototype, so a parameter named __proto__ is kept.
        const received: Record<string, string> = Object.create(null);
        for (const [k, v] of parsed.searchParams) {
          expect(Object.hasOwn(received, k)).toBe(false);
          received[k] = v;
        }
        expect(typeof received.signature).toBe('string');
        const signature = received.signature;
        const rest = Object.entries(received).filter(([k]) => k !== 'signature');
        expect(rest.sort()).toEqual(Object.entries(params).sort());
        expect(verifySignature('GET', path, received, secret, signature!)).toBe(true);
        // Tampering with the parsed query must fail.
        expect(verifySignature('GET', path, { ...received, zz_added: '1' }, secret, signature!)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('the path of a parsed signedGetUrl is the path that was signed', () => {
    fc.assert(
      fc.property(paramsArb, secretArb, (params, secret) => {
        const url = signedGetUrl('/usage', params, secret);
        const parsed = new URL(`http://x${url}`);
        expect(parsed.pathname).toBe('/usage');
      }),
      { numRuns: 50 },
    );
  });
});
