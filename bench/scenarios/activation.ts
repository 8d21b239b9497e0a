import { createProgress } from '../../src/cli/progress.ts';
import { SEED_PID } from '../license-seed.ts';
import { paced, type PacedRequest, type PacedResult } from '../load.ts';
import { fmtInt } from '../report.ts';
import type { Scenario } from './context.ts';
import { answersNote, licenseCallers, steadyRow } from './server.ts';

/**
 * Activation at a steady rate: a new licenseKey each time, on the project of a different customer
 * each time (the license API allows 10 requests/s per customer), with the project's own
 * appKey:appSecret, against the seeded licenses.
 */
export const activationScenario: Scenario = {
  name: 'activation',
  needs: ['licenses'],
  phase: 'server',
  async run(ctx) {
    const { s } = ctx;
    const projects = await licenseCallers(ctx);
    const activation = (k: number): PacedRequest => {
      const p = projects[k % projects.length]!;
      const query = new URLSearchParams({ pid: SEED_PID, licenseKey: `bench-new-${k}`, appid: p.project_id });
      return {
        method: 'POST',
        path: `/dabiz/license/v2/active?${query}`,
        headers: { authorization: `Basic ${Buffer.from(`${p.app_key}:${p.app_secret}`).toString('base64')}` },
      };
    };
    const activationBar = createProgress(`steady activation ${s.rate} req/s`, { unit: 's', plainEveryMs: 10_000 });
    let steadyActivation: PacedResult;
    try {
      steadyActivation = await paced({
        url: ctx.server.url,
        paths: [],
        request: activation,
        seconds: s.steadySeconds,
        rate: s.rate,
        onTick: (t) => activationBar.update(Math.min(Math.round(t), s.steadySeconds), s.steadySeconds),
      });
    } finally {
      activationBar.stop();
    }
    ctx.record('steadyActivation', steadyActivation);
    const activationRow = steadyRow(ctx, `steady ${s.rate} req/s for ${s.steadySeconds} s, POST /dabiz/license/v2/active (${fmtInt(s.licenses)} licenses issued)`, steadyActivation, null);
    activationRow.target = 'p99 < 30 ms, no errors';
    activationRow.verdict = steadyActivation.errors === 0 && steadyActivation.non2xx === 0 && steadyActivation.p99 < 30 ? 'ok' : 'MISSED';
    activationRow.result += answersNote(steadyActivation);
    return [activationRow];
  },
};
