import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../src/errors.ts';

/**
 * The docs say what the code does: generated blocks are compared with what the code generates now
 * (`npm run docs` rewrites them), and every relative link must land on a file of this repository.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const UPDATE = process.env.UPDATE_DOCS === '1';

function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), ...docs];
}

/** The error-code table: one row per code, grouped by HTTP status, in the order `ERROR_STATUS` lists them. */
function errorCodesTable(): string {
  const byStatus = new Map<number, string[]>();
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const rows = [...byStatus.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, codes]) => `| ${status} | ${codes.map((c) => `\`${c}\``).join(', ')} |`);
  return ['| HTTP | codes |', '|---|---|', ...rows].join('\n');
}

const GENERATED: Record<string, { file: string; render: () => string }> = {
  'error-codes': { file: 'docs/errors.md', render: errorCodesTable },
};

function replaceBlock(text: string, name: string, body: string): string {
  const begin = `<!-- generated:${name}:begin -->`;
  const end = `<!-- generated:${name}:end -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`no generated block ${name}`);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

describe('docs', () => {
  for (const [name, { file, render }] of Object.entries(GENERATED)) {
    it(`${file}: the generated block "${name}" is what the code generates (npm run docs rewrites it)`, () => {
      const path = join(ROOT, file);
      const text = readFileSync(path, 'utf8');
      const expected = replaceBlock(text, name, render());
      if (UPDATE) {
        writeFileSync(path, expected);
        return;
      }
      expect(text).toBe(expected);
    });
  }

  it('every error code is named in the error table', () => {
    const text = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_STATUS)) expect(text).toContain(`\`${code}\``);
  });

  it('every relative link lands on a file of this repository', () => {
    const broken: string[] = [];
    for (const file of docFiles()) {
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
        const path = resolve(dirname(file), target.split('#')[0]!);
        if (relative(ROOT, path).startsWith('..') || !existsSync(path)) broken.push(`${relative(ROOT, file)} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README is a five-minute read (under 200 lines)', () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
    expect(lines).toBeLessThan(200);
  });
});
