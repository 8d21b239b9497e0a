import { describe, expect, it } from 'vitest';
import { renderTable } from '../bench/report.ts';

describe('the benchmark table', () => {
  it('pads every column, also when every verdict is short', () => {
    const table = renderTable([
      { scenario: 'first page', result: '242 ms', target: '< 500 ms', verdict: 'ok' },
      { scenario: 'ingestion', result: '34,689 events/s', target: '≥ 10,000 events/s', verdict: 'ok' },
    ]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => [...l].length)).size).toBe(1);
    expect(lines[1]).toMatch(/^\| -+ \| -+ \| -+ \| -{3} \|$/);
    expect(lines[2]).toContain('| ok  |');
  });
});
