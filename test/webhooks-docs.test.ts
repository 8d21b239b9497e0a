import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { renderCatalogue } from '../src/notifications/outbox.ts';

const doc = readFileSync(new URL('../docs/webhooks.md', import.meta.url), 'utf8');

describe('docs/webhooks.md', () => {
  it('holds the event catalogue exactly as the code renders it', () => {
    const at = doc.indexOf('| type | sent when | data |');
    expect(at).toBeGreaterThan(0);
    const table = doc.slice(at).split('\n\n')[0]!.trimEnd();
    expect(table).toBe(renderCatalogue());
  });

  it('states the retry schedule and the reminder days the configuration defaults to', () => {
    const w = loadConfig({}).webhooks;
    expect(w.retrySchedule).toEqual([5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    expect(doc).toContain('5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h');
    expect(doc).toContain(`\`REMINDER_DAYS\`, default \`${w.reminderDays.join(',')}\``);
  });
});
