/**
 * One customer abusing the license API within its rate limit: whitelist exports started at a
 * steady rate (open loop: a new one whatever the earlier ones are doing), every other one abandoned
 * after its first chunk as a client that goes away, plus jumps to deep pages of the whitelist.
 * Runs next to Agora's steady poll to show that Agora does not feel it.
 */
export interface AbuseOptions {
  url: string;
  headers: Record<string, string>;
  exportPath: string;
  /** The path of deep-page request k. */
  deepPath: (k: number) => string;
  exportsPerSecond: number;
  deepPerSecond: number;
  seconds: number;
}

export interface AbuseResult {
  exportsStarted: number;
  exportsCompleted: number;
  exportsAbandoned: number;
  deepPages: number;
  /** Answers per HTTP status, exports and pages together. */
  statuses: Record<string, number>;
  bytes: number;
}

export async function abuse(o: AbuseOptions): Promise<AbuseResult> {
  const result: AbuseResult = { exportsStarted: 0, exportsCompleted: 0, exportsAbandoned: 0, deepPages: 0, statuses: {}, bytes: 0 };
  const count = (status: number) => (result.statuses[String(status)] = (result.statuses[String(status)] ?? 0) + 1);
  const inFlight: Promise<void>[] = [];
  const oneExport = async (abandon: boolean) => {
    const controller = new AbortController();
    try {
      const r = await fetch(`${o.url}${o.exportPath}`, { headers: o.headers, signal: controller.signal });
      count(r.status);
      if (r.status !== 200 || !r.body) {
        await r.arrayBuffer();
        return;
      }
      const reader = r.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        result.bytes += value.byteLength;
        if (abandon) {
          controller.abort();
          result.exportsAbandoned++;
          return;
        }
      }
      result.exportsCompleted++;
    } catch {
      // An aborted fetch rejects; that is the point of abandoning it.
    }
  };
  const oneDeepPage = async (k: number) => {
    try {
      const r = await fetch(`${o.url}${o.deepPath(k)}`, { headers: o.headers });
      await r.arrayBuffer();
      count(r.status);
      result.deepPages++;
    } catch {
      count(0);
    }
  };
  const started = performance.now();
  const schedule = (perSecond: number, fire: (k: number) => Promise<void>) =>
    (async () => {
      if (perSecond <= 0) return;
      const total = Math.round(perSecond * o.seconds);
      for (let k = 0; k < total; k++) {
        const wait = started + (k * 1000) / perSecond - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        inFlight.push(fire(k));
      }
    })();
  await Promise.all([
    schedule(o.exportsPerSecond, (k) => {
      result.exportsStarted++;
      return oneExport(k % 2 === 1);
    }),
    schedule(o.deepPerSecond, oneDeepPage),
  ]);
  await Promise.all(inFlight);
  return result;
}
