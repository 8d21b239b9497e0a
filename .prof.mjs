import { readFileSync, readdirSync } from 'node:fs';
const dir = '/tmp/t/prof';
const p = JSON.parse(readFileSync(`${dir}/${readdirSync(dir)[0]}`, 'utf8'));
const dt = {}; const byId = new Map(p.nodes.map((n) => [n.id, n]));
for (let i = 0; i < p.samples.length; i++) { const n = byId.get(p.samples[i]); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`; dt[k] = (dt[k] ?? 0) + p.timeDeltas[i] / 1000; }
const byUrl = {};
for (const [k, v] of Object.entries(dt)) { const u = k.split(' ')[1] || k; byUrl[u] = (byUrl[u] ?? 0) + v; }
console.log(Object.entries(byUrl).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${v.toFixed(0)} ${k}`).join('\n'));
console.log('--');
console.log(Object.entries(dt).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${v.toFixed(0)} ${k}`).join('\n'));
