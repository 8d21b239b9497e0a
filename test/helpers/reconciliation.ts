import { beforeEach, expect } from 'vitest';
import type { TestContext } from './setup.ts';

/** May and June 2025 in Unix seconds: the months the reconciliation tests reconcile. */
export const MAY = Date.UTC(2025, 4, 1) / 1000;
export const JUNE = Date.UTC(2025, 5, 1) / 1000;

/** Before each test, the `gold` plan (two tiers) every reconciliation test prices with. */
export function withGoldPlan(ctx: TestContext): void {
  beforeEach(async () => {
    await ctx.t.admin('POST', '/v1/plans', {
      planId: 'gold',
      currency: 'USD',
      usageUnit: 'Minute',
      effectiveFrom: '2025-01',
      tiers: [
        { upTo: '50', unitPrice: '0.01' },
        { upTo: null, unitPrice: '0.005' },
      ],
    });
  });
}

/** The test's usage through the public API, every event accepted. */
export function usageSender(ctx: TestContext) {
  return async (events: unknown[]) => {
    const r = await ctx.t.admin('POST', '/v1/usage-events', { events });
    expect(r.status).toBe(200);
  };
}

/** Reads every page of a window as Agora does (7 a page), fixing it. */
export function windowPoller(ctx: TestContext) {
  return async (path: string, window: { fromTs: number; toTs: number }) => {
    for (let pageNum = 1; ; pageNum++) {
      const r = await ctx.t.agoraGet(path, { ...window, pageNum, limit: 7 });
      const body = (await r.json()) as any;
      expect(r.status, JSON.stringify(body)).toBe(200);
      if (!body.data.hasNext) return;
    }
  };
}
