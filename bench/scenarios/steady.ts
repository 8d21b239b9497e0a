import type { Scenario } from './context.ts';
import { answersNote, billPaths, licensePaths, steady, steadyRow, usagePaths } from './server.ts';

/**
 * Steady 100 requests/s over the pages of the fixed day and month, and Agora's license query: its
 * read endpoints, each on its own. Provisioning (POST /customers/new and the rest) is not among
 * them: repeating one creates or deactivates something each time, not a steady state.
 */
export const steadyScenario: Scenario = {
  name: 'steady',
  needs: ['usage', 'licenses'],
  phase: 'server',
  async run(ctx) {
    const { s } = ctx;
    const steadyUsage = await steady(ctx, `steady /usage ${s.rate} req/s`, usagePaths(ctx));
    ctx.record('steadyUsage', steadyUsage);
    const usageRow = steadyRow(ctx, `steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /usage pages`, steadyUsage, '/usage');
    const steadyBill = await steady(ctx, `steady /bill ${s.rate} req/s`, billPaths(ctx));
    ctx.record('steadyBill', steadyBill);
    const billRow = steadyRow(ctx, `steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /bill pages`, steadyBill, '/bill');
    const steadyLicense = await steady(ctx, `steady license ${s.rate} req/s`, licensePaths(ctx));
    ctx.record('steadyLicense', steadyLicense);
    const licenseRow = steadyRow(ctx, `steady ${s.rate} req/s for ${s.steadySeconds} s, signed GET /customers/{id}/license`, steadyLicense, null);
    licenseRow.result += answersNote(steadyLicense);
    return [usageRow, billRow, licenseRow];
  },
};
