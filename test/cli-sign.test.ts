import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.ts';
import { KEY } from './helpers/app.ts';
import { Capture } from './helpers/capture.ts';

/** `agora-vendor sign` against the test vectors of shared/spec/agora-callbacks.md. */


async function cli(...argv: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  const status = await runCli(argv, { stdout, stderr, env: {}, cwd: process.cwd() });
  return { status, out: stdout.text, err: stderr.text };
}

const keys = ['--key', KEY.apiKey, '--secret', KEY.apiSecret];

describe('agora-vendor sign', () => {
  it("reproduces Agora's published GET /usage example", async () => {
    const r = await cli('sign', ...keys, '--show-source', '--path', '/usage', 'fromTs=1619913600', 'toTs=1619917200', 'pageNum=1');
    expect(r.status).toBe(0);
    expect(r.out).toBe(`/usage?fromTs=1619913600&toTs=1619917200&pageNum=1&apiKey=${KEY.apiKey}&signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D\n`);
    expect(r.err).toBe(
      `signing with apiKey ${KEY.apiKey} (from the --key and --secret flags)\n` +
      'source string: GET&%2Fusage&apiKey%3DpzD5XinRSlmA64tZx81fL92YcBsJK0gd%26fromTs%3D1619913600%26pageNum%3D1%26toTs%3D1619917200\n',
    );
  });

  it('signs GET /customers/{id}/license, with a base URL', async () => {
    const r = await cli('sign', ...keys, '--method', 'get', '--path', '/customers/1234567/license', '--base-url', 'https://vendor.example.com');
    expect(r.status).toBe(0);
    expect(r.out).toBe(`https://vendor.example.com/customers/1234567/license?apiKey=${KEY.apiKey}&signature=BrRMMU3XbvdsyPDoTXkwYBEOkyE%3D\n`);
  });

  it('signs a POST body, numbers kept as numbers', async () => {
    const r = await cli('sign', ...keys, '--method', 'POST', '--path', '/customers/123456/projects/new', 'projectId:=430892', '--show-source');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ projectId: 430892, apiKey: KEY.apiKey, signature: 'QRJDBm3gGmlFb5ZF9XBqm7u4EkI=' });
    expect(r.err).toContain('POST&%2Fcustomers%2F123456%2Fprojects%2Fnew&apiKey%3DpzD5XinRSlmA64tZx81fL92YcBsJK0gd%26projectId%3D430892');
    // The same through --body.
    const b = await cli('sign', ...keys, '--method', 'POST', '--path', '/customers/123456/projects/new', '--body', '{"projectId":430892}');
    expect(JSON.parse(b.out).signature).toBe('QRJDBm3gGmlFb5ZF9XBqm7u4EkI=');
  });

  it('prints a curl command that a shell reads back as the same body', async () => {
    const r = await cli('sign', ...keys, '--method', 'PUT', '--path', '/customers/c 1/deactivate', '--curl', "note=it's");
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^curl -sS -X PUT 'http:\/\/127\.0\.0\.1:8080\/customers\/c 1\/deactivate' -H 'content-type: application\/json' -d '\{"note":"it'\\''s",/);
  });

  it('takes the key pair from the environment', async () => {
    const stdout = new Capture();
    const status = await runCli(['sign', '--path', '/usage', 'fromTs=1619913600', 'toTs=1619917200', 'pageNum=1'], {
      stdout,
      stderr: new Capture(),
      env: { AGORA_API_KEYS: `${KEY.apiKey}:${KEY.apiSecret},other:pair` },
      cwd: '/nonexistent',
    });
    expect(status).toBe(0);
    expect(stdout.text).toContain('signature=SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D');
  });

  it('answers a usage mistake with exit status 2 and the usage', async () => {
    for (const argv of [
      ['sign', ...keys],
      ['sign', ...keys, '--path', '/usage', '--method', 'DELETE'],
      ['sign', ...keys, '--path', '/usage', 'no-equals'],
      ['sign', ...keys, '--path', '/usage', 'a:=not json'],
      ['sign', '--key', 'k', '--path', '/usage'],
      ['sign', ...keys, '--path', '/usage', '--bogus'],
      ['sign', ...keys, '--path', '/usage', 'signature=x'],
    ]) {
      const r = await cli(...argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.err).toContain('Usage: agora-vendor sign');
    }
    const none = await runCli(['sign', '--path', '/usage'], { stdout: new Capture(), stderr: new Capture(), env: {}, cwd: '/nonexistent' });
    expect(none).toBe(2);
  });
});
