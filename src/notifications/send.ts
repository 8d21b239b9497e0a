import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isRefusedAddress } from './addresses.ts';

/** The part of an answer kept in the delivery log; the rest is never read. */
export const ANSWER_BYTES = 1024;

export interface SendResult {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
  /** The first ANSWER_BYTES of the answer (as UTF-8, a cut character replaced). */
  answer: string | null;
}

/** Refuses, at connection time, a resolved address the URL check would refuse (DNS may change). */
function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const list = addresses;
      const bad = allowPrivate ? undefined : list.find((a) => isRefusedAddress(a.address));
      if (bad) {
        const refusal = Object.assign(new Error(`${hostname} resolves to ${bad.address}, a private address`), { code: 'EADDRREFUSED' });
        return callback(refusal, '', 0);
      }
      if (options.all) return callback(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

// Keep-alive: a burst to one receiver reuses its connections.
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/**
 * POSTs `body` to `url` and settles within `timeoutMs` whatever the receiver does: a receiver that
 * never answers is cut at the timeout, a large answer is read to ANSWER_BYTES and the connection
 * dropped, a redirect is not followed (it is a failure, its Location logged). Never throws.
 */
export function send(url: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number; allowPrivate: boolean }): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;
    const finish = (r: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, durationMs: elapsed() });
    };
    const timer = setTimeout(() => {
      finish({ ok: false, status: null, error: `no answer within ${opts.timeoutMs} ms`, answer: null });
      req?.destroy();
    }, opts.timeoutMs);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      finish({ ok: false, status: null, error: 'invalid url', answer: null });
      return;
    }
    // An address literal is never looked up: it is checked here, a name in checkedLookup.
    const literal = u.hostname.replace(/^\[|\]$/g, '');
    if (!opts.allowPrivate && isIP(literal) && isRefusedAddress(literal)) {
      finish({ ok: false, status: null, error: `${literal} is a private address (WEBHOOK_ALLOW_PRIVATE=true allows it)`, answer: null });
      return;
    }
    const lib = u.protocol === 'https:' ? https : http;
    try {
      req = lib.request(
        u,
        {
          method: 'POST',
          agent: u.protocol === 'https:' ? agents.https : agents.http,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body).toString(), 'user-agent': 'agora-vendor-server-webhooks' },
          lookup: checkedLookup(opts.allowPrivate),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          const done = () => {
            const answer = Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8');
            const redirect = status >= 300 && status < 400;
            const ok = status >= 200 && status < 300;
            const error = ok ? null : redirect ? `redirect to ${String(res.headers.location ?? '(no Location)').slice(0, 200)} not followed` : `HTTP ${status}`;
            finish({ ok, status, error, answer });
          };
          res.on('data', (chunk: Buffer) => {
            if (size >= ANSWER_BYTES) return;
            chunks.push(chunk);
            size += chunk.length;
            if (size >= ANSWER_BYTES) {
              // Enough for the log: the rest is not read, the connection is dropped.
              done();
              res.destroy();
            }
          });
          res.on('end', done);
          res.on('error', (err) => (size > 0 ? done() : finish({ ok: false, status, error: err.message, answer: null })));
        },
      );
    } catch (err) {
      finish({ ok: false, status: null, error: err instanceof Error ? err.message : String(err), answer: null });
      return;
    }
    req.on('error', (err) => finish({ ok: false, status: null, error: err.message, answer: null }));
    req.end(body);
  });
}
