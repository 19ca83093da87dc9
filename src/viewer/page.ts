/** The viewer's one page: plain HTML and script, talking to the JSON API (server.ts). */
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>saekit viewer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #22313f; color: #fff; padding: 8px 16px; display: flex; gap: 18px; align-items: baseline; }
header a { color: #cfe3ff; text-decoration: none; } header b { font-size: 16px; }
main { padding: 12px 16px; max-width: 1200px; }
table { border-collapse: collapse; background: #fff; } td, th { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; }
th { background: #f0f0f0; } tr.row:hover { background: #eef5ff; cursor: pointer; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 12px; margin: 10px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; }
.ctx { font-family: ui-monospace, monospace; white-space: pre-wrap; margin: 4px 0; padding: 4px 6px; border-left: 3px solid #ddd; }
.tok { border-radius: 2px; } .tok.hi { outline: 1px solid rgba(200, 60, 0, 0.25); } .tok.focus { font-weight: 700; text-decoration: underline; }
.muted { color: #777; } img { max-width: 100%; background: #fff; } input, select, button { font: inherit; padding: 2px 6px; }
.bar { display: inline-block; background: #4c78a8; vertical-align: bottom; width: 10px; margin-right: 1px; }
</style></head>
<body>
<header><b>saekit</b><a href="#/">overview</a><a href="#/latents">latents</a><span id="title" class="muted"></span></header>
<main id="app">loading…</main>
<script>
const app = document.getElementById('app');
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const fmt = (v, d = 4) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(d)) : esc(v));
async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
let overview = null;

function context(ex, max) {
  const spans = ex.tokens.map((t, i) => {
    const a = ex.acts[i], alpha = max > 0 ? Math.min(1, a / max) : 0;
    const cls = 'tok' + (a > 0 ? ' hi' : '') + (i === ex.focus ? ' focus' : '');
    return '<span class="' + cls + '" title="' + fmt(a) + '" style="background: rgba(255, 110, 0, ' + alpha.toFixed(3) + ')">' + esc(t) + '</span>';
  });
  return '<div class="ctx" data-act="' + ex.act + '">' + spans.join('') + ' <span class="muted">(' + fmt(ex.act, 3) + ')</span></div>';
}

function histogram(h) {
  const m = Math.max(1, ...h);
  return '<div title="activation histogram, 0 to max">' + h.map((c) => '<span class="bar" style="height:' + Math.round(60 * c / m) + 'px"></span>').join('') + '</div>';
}

async function showOverview() {
  const o = overview;
  const rows = Object.entries({ ...o.cfg, ...(o.eval || {}) }).filter(([, v]) => typeof v !== 'object')
    .map(([k, v]) => '<tr><th>' + esc(k) + '</th><td>' + fmt(v) + '</td></tr>').join('');
  const meta = Object.entries(o.meta).map(([k, v]) => '<tr><th>' + esc(k) + '</th><td>' + fmt(v) + '</td></tr>').join('');
  app.innerHTML = '<h2>' + esc(o.meta.run) + '</h2><div class="grid"><div class="card"><h3>configuration and metrics</h3><table>' + rows +
    '</table></div><div class="card"><h3>index</h3><table>' + meta + '</table></div></div>' +
    '<div class="grid"><div class="card"><img alt="loss curve" src="/plot/loss.svg"></div><div class="card"><img alt="density histogram" src="/plot/density.svg"></div>' +
    '<div class="card"><img alt="frontier of sibling runs" src="/plot/frontier.svg"></div></div>';
}

async function showLatents(params) {
  const p = new URLSearchParams(params);
  const q = { q: p.get('q') || '', token: p.get('token') || '', sort: p.get('sort') || 'density', order: p.get('order') || 'desc',
    minDensity: p.get('minDensity') || '', maxDensity: p.get('maxDensity') || '', offset: Number(p.get('offset') || 0), limit: 50 };
  const res = await api('/api/latents?' + new URLSearchParams(q));
  const opt = (v, cur) => '<option' + (v === cur ? ' selected' : '') + '>' + v + '</option>';
  const link = (o) => '#/latents?' + new URLSearchParams({ ...q, ...o });
  app.innerHTML = '<form id="f" class="card">search <input name="q" id="search" placeholder="latent id or token" value="' + esc(q.q) + '"> ' +
    'fires on token <input name="token" size="10" value="' + esc(q.token) + '"> density from <input name="minDensity" size="7" value="' + esc(q.minDensity) + '"> to ' +
    '<input name="maxDensity" size="7" value="' + esc(q.maxDensity) + '"> sort <select name="sort">' + ['density', 'max_act', 'mean_act', 'id'].map((s) => opt(s, q.sort)).join('') +
    '</select> <select name="order">' + opt('desc', q.order) + opt('asc', q.order) + '</select> <button>go</button></form>' +
    '<p class="muted">' + res.total + ' latents; showing ' + (res.total ? q.offset + 1 : 0) + '–' + Math.min(res.total, q.offset + res.items.length) + '</p>' +
    '<table id="latents"><tr><th>latent</th><th>density</th><th>mean act</th><th>max act</th><th>top token</th><th>truth (cos)</th></tr>' +
    res.items.map((l) => '<tr class="row" data-id="' + l.id + '"><td><a href="#/latent/' + l.id + '">' + l.id + '</a></td><td>' + fmt(l.density) + '</td><td>' +
      fmt(l.mean_act, 3) + '</td><td>' + fmt(l.max_act, 3) + '</td><td>' + esc(JSON.stringify(l.top_token)) + '</td><td>' +
      (l.truth_id === null ? '—' : l.truth_id + ' (' + fmt(l.truth_cos, 3) + ')') + '</td></tr>').join('') + '</table>' +
    '<p>' + (q.offset > 0 ? '<a href="' + link({ offset: Math.max(0, q.offset - 50) }) + '">← previous</a> ' : '') +
    (q.offset + 50 < res.total ? '<a id="next" href="' + link({ offset: q.offset + 50 }) + '">next →</a>' : '') + '</p>';
  document.getElementById('f').onsubmit = (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target));
    location.hash = '#/latents?' + new URLSearchParams({ ...data, offset: 0 });
  };
  for (const tr of document.querySelectorAll('tr.row')) tr.onclick = () => { location.hash = '#/latent/' + tr.dataset.id; };
}

function latentCard(l, heading) {
  const list = (xs) => (xs || []).map((x) => esc(JSON.stringify(x.token)) + ' <span class="muted">' + fmt(x.value, 2) + '</span>').join(', ');
  return '<div class="card"><h2>' + heading + '</h2>' +
    '<p>density ' + fmt(l.density) + ' (' + l.count + ' of the indexed tokens), mean ' + fmt(l.mean_act, 3) + ', quantiles 50/90/99% ' +
    fmt(l.q50, 3) + ' / ' + fmt(l.q90, 3) + ' / ' + fmt(l.q99, 3) + ', max ' + fmt(l.max_act, 3) + '</p>' + histogram(l.hist) +
    (l.truth_id !== null ? '<p>best ground-truth feature: ' + l.truth_id + ' (cosine ' + fmt(l.truth_cos, 3) + ')</p>' : '') +
    (l.logits_top ? '<p>promotes: ' + list(l.logits_top) + '<br>suppresses: ' + list(l.logits_bottom) + '</p>' : '') +
    '<h3>top activations</h3><div id="examples">' + (l.examples.length ? l.examples.map((e) => e.tokens.length ? context(e, l.max_act) :
      '<div class="ctx">row ' + e.row + ': ' + fmt(e.act, 3) + '</div>').join('') : '<p class="muted">never fired on the indexed tokens</p>') + '</div>' +
    '<h3>nearest by decoder cosine</h3><p>' + l.neighbors.map((x) => '<a href="#/latent/' + x.id + '">' + x.id + '</a> ' + fmt(x.cos, 3)).join(', ') + '</p>' +
    (l.opposing_id !== null ? '<p>most opposing: <a href="#/latent/' + l.opposing_id + '">' + l.opposing_id + '</a> (cosine ' + fmt(l.opposing_cos, 3) + ')</p>' : '') + '</div>';
}

async function showLatent(id) {
  const l = await api('/api/latent/' + id);
  app.innerHTML = latentCard(l, 'latent ' + l.id) + (overview.compare ? '<p><a href="#/compare/' + l.id + '">compare with ' + esc(overview.compare) + '</a></p>' : '');
}

async function showCompare(id) {
  const c = await api('/api/compare/' + id);
  app.innerHTML = '<div class="grid"><div>' + latentCard(c.latent, esc(c.run) + ': latent ' + c.latent.id) + '</div><div>' +
    c.matches.map((m) => latentCard(m.latent, esc(c.other) + ': latent ' + m.id + ' (decoder cosine ' + fmt(m.cos, 3) + ')')).join('') + '</div></div>';
}

async function route() {
  const h = location.hash || '#/';
  try {
    if (!overview) {
      overview = await api('/api/overview');
      document.getElementById('title').textContent = overview.meta.run + ' · ' + overview.cfg.arch + ' · ' + overview.cfg.n + ' latents';
    }
    let m;
    if ((m = /^#\\/latent\\/(\\d+)$/.exec(h))) await showLatent(m[1]);
    else if ((m = /^#\\/compare\\/(\\d+)$/.exec(h))) await showCompare(m[1]);
    else if (h.startsWith('#/latents')) await showLatents(h.split('?')[1] || '');
    else await showOverview();
  } catch (err) {
    app.innerHTML = '<div class="card">error: ' + esc(err.message) + '</div>';
  }
}
addEventListener('hashchange', route);
route();
</script></body></html>
`;
