/** The multi-run dashboard's page (dashboard.ts): plain HTML and script polling the JSON API. */
import { PAGE_HELPERS } from './page-helpers.js';

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>saekit runs</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #22313f; color: #fff; padding: 8px 16px; } header b { font-size: 16px; }
main { padding: 12px 16px; max-width: 1300px; }
table { border-collapse: collapse; background: #fff; } td, th { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; overflow-wrap: anywhere; }
th { background: #f0f0f0; white-space: nowrap; overflow-wrap: normal; } tr.run:hover { background: #eef5ff; cursor: pointer; } tr.run.sel { background: #e3efff; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 12px; margin: 10px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 10px; }
.status { border-radius: 3px; padding: 0 6px; font-size: 12px; color: #fff; }
.running { background: #2ca02c; } .finished { background: #4c78a8; } .stopped { background: #d62728; }
.prog { display: inline-block; width: 80px; height: 8px; background: #eee; vertical-align: middle; } .prog > span { display: block; height: 8px; background: #4c78a8; }
.muted { color: #777; } img { max-width: 100%; background: #fff; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
</style></head>
<body><header><b>saekit</b> runs <span id="dir" class="muted"></span></header>
<main><div class="card"><table id="runs"><tr><td>loading…</td></tr></table></div>
<div class="grid"><div class="card"><h3 id="curve-title">training curves</h3><p id="steps" class="muted">click a run</p><img id="curve" alt="training curves"></div>
<div class="card"><h3>MSE–L0 frontier of the folder</h3><img id="frontier" alt="frontier" src="/plot/frontier.svg"></div></div></main>
<script>
${PAGE_HELPERS}
let selected = new URLSearchParams(location.hash.slice(1)).get('run');
let lastSteps = -1, lastFinished = -1;
async function refresh() {
  const r = await (await fetch('/api/runs')).json();
  document.getElementById('dir').textContent = r.dir;
  const rows = r.runs.map((x) => {
    const frac = x.target ? Math.min(1, x.tokens / x.target) : 0, last = x.last || {};
    return '<tr class="run' + (x.name === selected ? ' sel' : '') + '" data-run="' + esc(x.name) + '"><td>' + esc(x.name) + (x.pareto ? ' <span title="Pareto-optimal">★</span>' : '') + '</td>' +
      '<td><span class="status ' + x.status + '">' + x.status + '</span></td><td>' + esc(x.arch) + '</td><td class="num">' + fmt(x.latents) + '</td><td class="num">' + fmt(x.k) + '</td>' +
      '<td><span class="prog"><span style="width:' + (100 * frac).toFixed(1) + '%"></span></span> ' + fmt(x.tokens) + '</td>' +
      '<td class="num">' + fmt(last.fvu) + '</td><td class="num">' + fmt(last.l0, 2) + '</td><td class="num">' + fmt(last.dead_fraction, 3) + '</td><td class="num">' + fmt(last.lr) + '</td>' +
      '<td class="num">' + fmt(x.fvu) + '</td><td class="num">' + fmt(x.l0, 2) + '</td><td>' + (x.indexed ? '<a href="/run/' + esc(encodeURI(x.name)) + '/">latents</a>' : '') + '</td></tr>';
  });
  document.getElementById('runs').innerHTML = '<tr><th>run</th><th>status</th><th>arch</th><th>latents</th><th>k</th><th>tokens</th><th>FVU</th><th>L0</th><th>dead</th><th>lr</th>' +
    '<th>held-out FVU</th><th>held-out L0</th><th></th></tr>' + (rows.join('') || '<tr><td colspan="13" class="muted">no runs under this folder yet</td></tr>');
  for (const tr of document.querySelectorAll('tr.run')) tr.onclick = (e) => { if (e.target.tagName !== 'A') { selected = tr.dataset.run; location.hash = 'run=' + encodeURIComponent(selected); lastSteps = -1; refresh(); } };
  const finished = r.runs.filter((x) => x.fvu !== undefined).length;
  if (finished !== lastFinished) { lastFinished = finished; document.getElementById('frontier').src = '/plot/frontier.svg?n=' + finished; }
  const run = r.runs.find((x) => x.name === selected);
  if (run && run.steps !== lastSteps) {
    lastSteps = run.steps;
    document.getElementById('curve-title').textContent = 'training curves: ' + run.name;
    document.getElementById('steps').textContent = run.steps + ' logged steps, ' + fmt(run.tokens) + ' tokens (' + run.status + ')';
    document.getElementById('curve').src = '/plot/loss.svg?run=' + encodeURIComponent(run.name) + '&steps=' + run.steps;
  }
}
refresh();
setInterval(() => refresh().catch(() => {}), 2000);
</script></body></html>
`;
