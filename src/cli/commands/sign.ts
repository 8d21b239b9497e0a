import { paramText, signedBody, signedGetUrl, sourceString } from '../../agora/signature.ts';
import { agoraGetUrl } from '../poller/poller.ts';
import { defaultBaseUrl, keyLine, parseCommand, resolveKeyPair, shellQuote, UsageError, type CliIo } from '../io.ts';

export const SIGN_USAGE = `Usage: agora-vendor sign --method GET|POST|PUT --path PATH [PARAM ...] [options]

Prints a request signed exactly as Agora signs it: the signed URL of a GET, the signed JSON body of
a POST or PUT. apiKey is added to the parameters unless given.

PARAM
  key=value          a parameter whose value is the text "value"
  key:=json          a body field with a JSON value (a number, true, null …): projectId:=430892

Options
  --method M         GET, POST or PUT (default GET)
  --path PATH        the request path, e.g. /usage or /customers/123456/projects/new
  --body JSON        body fields as one JSON object (merged with the PARAMs)
  --base-url URL     print a full URL (its path prefix is signed too)
  --curl             print a curl command instead (to --base-url, else AGORA_BASE_URL, else
                     http://127.0.0.1:$PORT, port 8080 when PORT is unset)
  --show-source      also print the source string that was signed (on stderr)
  --key K --secret S the key pair (default: AGORA_API_KEY/AGORA_API_SECRET, AGORA_API_KEYS, DATA_DIR/credentials.json)

Example (the spec's first test vector):
  agora-vendor sign --key pzD5XinRSlmA64tZx81fL92YcBsJK0gd --secret U1SXE6k57vxVRjTomgquwC2F3tH8ziOB \\
    --path /usage fromTs=1619913600 toTs=1619917200 pageNum=1`;

export async function signCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    {
      method: { type: 'string', default: 'GET' },
      path: { type: 'string' },
      body: { type: 'string' },
      'base-url': { type: 'string' },
      curl: { type: 'boolean', default: false },
      'show-source': { type: 'boolean', default: false },
      key: { type: 'string' },
      secret: { type: 'string' },
    },
    true,
  );
  const method = values.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST' && method !== 'PUT') throw new UsageError('--method must be GET, POST or PUT');
  if (!values.path) throw new UsageError('--path is required');
  if (!values.path.startsWith('/')) throw new UsageError('--path must start with "/"');
  if (values.path.includes('?')) throw new UsageError('--path is the path alone; give query parameters as key=value');
  const key = resolveKeyPair(io, values);
  io.stderr.write(`signing with ${keyLine(key)}\n`);

  const params: Record<string, unknown> = {};
  if (values.body !== undefined) {
    let body: unknown;
    try {
      body = JSON.parse(values.body);
    } catch {
      throw new UsageError('--body is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new UsageError('--body must be a JSON object');
    Object.assign(params, body);
  }
  for (const p of positionals) {
    const typed = /^([^=:]+):=(.*)$/s.exec(p);
    const plain = /^([^=]+)=(.*)$/s.exec(p);
    if (typed) {
      try {
        params[typed[1]!] = JSON.parse(typed[2]!);
      } catch {
        throw new UsageError(`${p}: the value after ":=" is not JSON`);
      }
    } else if (plain) {
      params[plain[1]!] = plain[2]!;
    } else {
      throw new UsageError(`${p}: a parameter is key=value or key:=json`);
    }
  }
  if (params.signature !== undefined) throw new UsageError('signature is what this command computes; do not pass it');
  if (params.apiKey === undefined) params.apiKey = key.apiKey;

  // A curl command needs a whole URL: without --base-url, the server this machine runs.
  const base = values['base-url'] ?? (values.curl ? defaultBaseUrl(io.env) : undefined);
  let signedPath = values.path;
  if (base !== undefined) {
    try {
      signedPath = decodeURIComponent(new URL(base).pathname.replace(/\/+$/, '')) + values.path;
    } catch {
      throw new UsageError(`--base-url ${base} is not a URL`);
    }
  }
  if (values['show-source']) io.stderr.write(`source string: ${sourceString(method, signedPath, params)}\n`);

  if (method === 'GET') {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) query[k] = paramText(v);
    const url = base !== undefined ? agoraGetUrl(base, values.path, query, key.apiSecret) : signedGetUrl(values.path, query, key.apiSecret);
    io.stdout.write(values.curl ? `curl -sS ${shellQuote(url)}\n` : `${url}\n`);
    return 0;
  }
  const body = JSON.stringify(signedBody(method, signedPath, params, key.apiSecret));
  if (values.curl && base !== undefined) {
    const target = `${base.replace(/\/+$/, '')}${values.path}`;
    io.stdout.write(`curl -sS -X ${method} ${shellQuote(target)} -H 'content-type: application/json' -d ${shellQuote(body)}\n`);
  } else {
    io.stdout.write(`${body}\n`);
  }
  return 0;
}
