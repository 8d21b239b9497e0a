import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The console's static files, all from this server (no CDN: it works on a network without internet
 * access). uPlot comes from the installed `uplot` package; the style and the chart script are ours.
 * Pages read fully without JavaScript: the script only draws a chart above each table marked
 * `data-chart`, from the figures the table already shows.
 */

// The package's main file is dist/uPlot.cjs.js: its folder holds the browser builds too.
const UPLOT = dirname(createRequire(import.meta.url).resolve('uplot'));

const CSS = `
:root { --fg: #1c2330; --muted: #5b6576; --line: #d8dde6; --accent: #0b63ce; --bad: #b3261e; --bad-bg: #fdecea; --ok: #1e7a34; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f6f7f9; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
.brand { font-weight: 600; }
nav { display: flex; flex-wrap: wrap; gap: .9rem; flex: 1; }
nav a { color: var(--muted); text-decoration: none; padding: .2rem 0; }
nav a[aria-current=page] { color: var(--fg); border-bottom: 2px solid var(--accent); }
.sign-out button { font: inherit; background: none; border: 1px solid var(--line); border-radius: 4px; padding: .2rem .6rem; cursor: pointer; }
main { padding: 1rem 1.2rem 3rem; max-width: 1200px; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
a { color: var(--accent); }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); margin: .3rem 0 .8rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-weight: 600; background: #eef1f5; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.diff td { background: var(--bad-bg); }
td.bad, .bad { color: var(--bad); font-weight: 600; }
.ok { color: var(--ok); font-weight: 600; }
.muted, .empty { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .7rem 1rem; min-width: 14rem; }
.card .figure { font-size: 1.5rem; font-weight: 600; font-variant-numeric: tabular-nums; }
form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin: .4rem 0 1rem; }
form.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
input, select, button { font: inherit; padding: .25rem .4rem; }
.chart { background: #fff; border: 1px solid var(--line); margin: .3rem 0; padding: .3rem; }
.signin { max-width: 24rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem; }
.signin label { display: block; margin: .4rem 0; }
.signin input[type=password] { width: 100%; }
.error { color: var(--bad); }
code { font-size: .9em; }
`;

// Draws a uPlot chart above every table marked data-chart; its first column is a day (YYYY-MM-DD),
// data-chart names the columns drawn ("1" or "1,2"). The figures are for drawing only: the table keeps the exact ones.
const JS = `(function () {
  if (typeof uPlot !== 'function') return;
  document.querySelectorAll('table[data-chart]').forEach(function (table) {
    var cols = table.getAttribute('data-chart').split(',').map(Number);
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent; });
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    if (rows.length === 0) return;
    var data = [[]].concat(cols.map(function () { return []; }));
    rows.forEach(function (r) {
      data[0].push(Date.parse(r.cells[0].textContent.trim() + 'T00:00:00Z') / 1000);
      cols.forEach(function (c, i) { data[i + 1].push(Number(r.cells[c].textContent.trim())); });
    });
    var colors = ['#0b63ce', '#e07b00', '#1e7a34'];
    var series = [{}].concat(cols.map(function (c, i) { return { label: heads[c], stroke: colors[i % colors.length], width: 2 }; }));
    var box = document.createElement('div');
    box.className = 'chart';
    table.parentNode.insertBefore(box, table);
    new uPlot({ width: Math.min(1100, box.clientWidth || 900), height: 260, series: series, scales: { x: { time: true } } }, data, box);
  });
})();
`;

const FILES: Record<string, { type: string; read: () => Promise<Buffer | string> }> = {
  'console.css': { type: 'text/css; charset=utf-8', read: async () => CSS },
  'console.js': { type: 'text/javascript; charset=utf-8', read: async () => JS },
  'uPlot.iife.min.js': { type: 'text/javascript; charset=utf-8', read: () => readFile(join(UPLOT, 'uPlot.iife.min.js')) },
  'uPlot.min.css': { type: 'text/css; charset=utf-8', read: () => readFile(join(UPLOT, 'uPlot.min.css')) },
};

const cache = new Map<string, Promise<Buffer | string>>();

/** The asset named `file` with its content type, or undefined: nothing else is reachable. */
export async function consoleAsset(file: string): Promise<{ type: string; body: Buffer | string } | undefined> {
  const f = Object.hasOwn(FILES, file) ? FILES[file] : undefined;
  if (!f) return undefined;
  let body = cache.get(file);
  if (!body) {
    body = f.read();
    cache.set(file, body);
    body.catch(() => cache.delete(file));
  }
  return { type: f.type, body: await body };
}
