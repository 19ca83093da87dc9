/** The viewer's one page: plain HTML and script, talking to the JSON API (server.ts). Paths are
 *  relative to where the page is served (the dashboard serves a run's viewer under /run/NAME/). */
import { PAGE_HELPERS } from './page-helpers.js';

export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>saekit viewer</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #22313f; color: #fff; padding: 8px 16px; display: flex; gap: 18px; align-items: baseline; }
header a { color: #cfe3ff; text-decoration: none; } header b { font-size: 16px; }
main { padding: 12px 16px; max-width: 1200px; }
table { border-collapse: collapse; background: #fff; max-width: 100%; } td, th { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; overflow-wrap: anywhere; }
th { background: #f0f0f0; white-space: nowrap; overflow-wrap: normal; } tr.row:hover { background: #eef5ff; cursor: pointer; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 12px; margin: 10px 0; min-width: 0; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; }
.ctx { font-family: ui-monospace, monospace; white-space: pre-wrap; margin: 4px 0; padding: 4px 6px; border-left: 3px solid #ddd; }
.tok { border-radius: 2px; } .tok.hi { outline: 1px solid rgba(200, 60, 0, 0.25); } .tok.focus { font-weight: 700; text-decoration: underline; }
.ws { color: #999; } .live .tok { cursor: pointer; }
.muted { color: #777; } img { max-width: 100%; background: #fff; } input, select, button, textarea { font: inherit; padding: 2px 6px; }
textarea { width: 100%; box-sizing: border-box; } .axis { font-size: 10px; fill: #555; } .side { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.chips span { display: inline-block; margin: 1px 3px; padding: 0 4px; border-radius: 3px; background: #eef3fb; }
</style></head>
<body>
<header><b>saekit</b><a href="#/">overview</a><a href="#/latents">latents</a><span id="title" class="muted"></span></header>
<main id="app">loading…</main>
<script>
const BASE = location.pathname.replace(/\\/(index\\.html)?$/, '');
const app = document.getElementById('app');
${PAGE_HELPERS}
async function api(path) {
  const r = await fetch(BASE + path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
let overview = null, densities = null;

/** whitespace, newlines and unprintable bytes drawn visibly (· ↵ → <0x..>) */
function visible(t) {
  if (t === '') return '';
  let out = '';
  for (const ch of t) {
    const c = ch.codePointAt(0);
    if (ch === '\\n') out += '<span class="ws">↵</span>\\n';
    else if (ch === '\\t') out += '<span class="ws">→</span>';
    else if (ch === ' ' && /^ +$/.test(t)) out += '<span class="ws">·</span>';
    else if (c < 32 || c === 127 || ch === '\\ufffd') out += '<span class="ws">&lt;0x' + (ch === '\\ufffd' ? '??' : c.toString(16).padStart(2, '0').toUpperCase()) + '&gt;</span>';
    else out += esc(ch);
  }
  return out;
}

function context(ex, max) {
  const spans = ex.tokens.map((t, i) => {
    const a = ex.acts[i], alpha = max > 0 ? Math.min(1, a / max) : 0;
    const cls = 'tok' + (a > 0 ? ' hi' : '') + (i === ex.focus ? ' focus' : '');
    return '<span class="' + cls + '" title="' + fmt(a) + '" style="background: rgba(255, 110, 0, ' + alpha.toFixed(3) + ')">' + visible(t) + '</span>';
  });
  return '<div class="ctx" data-act="' + ex.act + '">' + spans.join('') + ' <span class="muted">(' + fmt(ex.act, 3) + ')</span></div>';
}

/** a histogram as SVG with axes: counts per bin over [lo, hi]; log counts when asked; a marker at mark */
function histSvg(counts, lo, hi, o) {
  const W = 360, H = 130, L = 40, B = 22, w = (W - L - 6) / counts.length, log = o.log;
  const t = (c) => (log ? Math.log10(1 + c) : c), m = Math.max(1e-9, ...counts.map(t));
  const bars = counts.map((c, i) => { const h = ((H - B - 8) * t(c)) / m; return '<rect x="' + (L + i * w).toFixed(1) + '" y="' + (H - B - h).toFixed(1) + '" width="' + Math.max(1, w - 1).toFixed(1) + '" height="' + h.toFixed(1) + '" fill="' + (o.color || '#4c78a8') + '"><title>' + fmt(lo + (i * (hi - lo)) / counts.length, 3) + '–' + fmt(lo + ((i + 1) * (hi - lo)) / counts.length, 3) + ': ' + c + '</title></rect>'; }).join('');
  const maxCount = Math.max(...counts);
  const yTicks = [0, log ? maxCount : Math.round(maxCount / 2), maxCount].map((c) => { const y = H - B - ((H - B - 8) * t(c)) / m; return '<text class="axis" x="' + (L - 4) + '" y="' + (y + 3).toFixed(1) + '" text-anchor="end">' + fmt(c) + '</text><line x1="' + (L - 2) + '" x2="' + L + '" y1="' + y.toFixed(1) + '" y2="' + y.toFixed(1) + '" stroke="#555"/>'; }).join('');
  const xTicks = [0, 0.5, 1].map((f) => { const x = L + f * (W - L - 6); return '<text class="axis" x="' + x.toFixed(1) + '" y="' + (H - 8) + '" text-anchor="middle">' + fmt(lo + f * (hi - lo), 2) + '</text>'; }).join('');
  const mark = o.mark === undefined ? '' : '<line x1="' + (L + ((o.mark - lo) / (hi - lo || 1)) * (W - L - 6)).toFixed(1) + '" x2="' + (L + ((o.mark - lo) / (hi - lo || 1)) * (W - L - 6)).toFixed(1) + '" y1="4" y2="' + (H - B) + '" stroke="#d62728" stroke-width="2"/>';
  return '<svg class="hist" width="' + W + '" height="' + H + '" role="img" aria-label="' + esc(o.label) + '"><line x1="' + L + '" x2="' + L + '" y1="4" y2="' + (H - B) + '" stroke="#555"/><line x1="' + L + '" x2="' + (W - 6) + '" y1="' + (H - B) + '" y2="' + (H - B) + '" stroke="#555"/>' +
    bars + yTicks + xTicks + mark + '<text class="axis" x="' + ((W + L) / 2) + '" y="' + (H - 0) + '" text-anchor="middle">' + esc(o.xTitle) + '</text></svg>';
}

function metricRows(o) {
  const flat = { ...o.cfg, ...(o.eval || {}) };
  const ds = (o.eval && o.eval.downstream) || {};
  for (const [k, v] of Object.entries(ds)) flat['downstream ' + k] = v;
  return Object.entries(flat).filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => '<tr><th>' + esc(k) + '</th><td>' + fmt(v) + '</td></tr>').join('');
}

async function showOverview() {
  const o = overview;
  const meta = Object.entries(o.meta).map(([k, v]) => '<tr><th>' + esc(k) + '</th><td>' + fmt(v) + '</td></tr>').join('');
  app.innerHTML = '<h2>' + esc(o.meta.run) + '</h2><div class="grid"><div class="card"><h3>configuration and metrics</h3><table id="metrics">' + metricRows(o) +
    '</table></div><div class="card"><h3>index</h3><table>' + meta + '</table></div></div>' +
    '<div class="grid"><div class="card"><img alt="loss curve" src="' + BASE + '/plot/loss.svg"></div><div class="card"><img alt="density histogram" src="' + BASE + '/plot/density.svg"></div>' +
    '<div class="card"><img alt="frontier of sibling runs" src="' + BASE + '/plot/frontier.svg"></div></div>';
}

function liveBox(id, placeholder) {
  return '<div class="card live"><h3>live text</h3><form id="' + id + '"><textarea name="text" rows="2" maxlength="600" placeholder="' + esc(placeholder) + '"></textarea><button>run</button> <span class="muted" id="' + id + '-note"></span></form><div id="' + id + '-out"></div></div>';
}

/** runs typed text through the model and the SAE; latent given: shades by it, else lists the top latents per token */
function wireLive(id, latent) {
  const f = document.getElementById(id);
  if (!f) return;
  f.onsubmit = async (e) => {
    e.preventDefault();
    const out = document.getElementById(id + '-out'), note = document.getElementById(id + '-note');
    note.textContent = 'running…';
    try {
      const q = new URLSearchParams({ text: new FormData(f).get('text') });
      if (latent !== undefined) q.set('latent', latent);
      const r = await api('/api/live?' + q);
      note.textContent = r.model;
      if (latent !== undefined) {
        const max = Math.max(1e-9, ...r.latent);
        out.innerHTML = context({ tokens: r.tokens, acts: r.latent, act: max, focus: -1 }, max);
      } else {
        out.innerHTML = '<table id="' + id + '-table"><tr><th>token</th><th>latents (activation)</th></tr>' + r.tokens.map((t, i) => '<tr><td class="ctx">' + visible(t) + '</td><td class="chips">' +
          r.top[i].map((x) => '<span><a href="#/latent/' + x.id + '">' + x.id + '</a> ' + fmt(x.act, 2) + '</span>').join('') + '</td></tr>').join('') + '</table>';
      }
    } catch (err) { note.textContent = 'error: ' + err.message; }
  };
}

async function showLatents(params) {
  const p = new URLSearchParams(params);
  const q = { q: p.get('q') || '', token: p.get('token') || '', sort: p.get('sort') || 'density', order: p.get('order') || 'desc',
    minDensity: p.get('minDensity') || '', maxDensity: p.get('maxDensity') || '', offset: Number(p.get('offset') || 0), limit: 50 };
  const res = await api('/api/latents?' + new URLSearchParams(q));
  const truth = Boolean(overview.meta.truth);
  const opt = (v, cur) => '<option' + (v === cur ? ' selected' : '') + '>' + v + '</option>';
  const link = (o) => '#/latents?' + new URLSearchParams({ ...q, ...o });
  app.innerHTML = '<form id="f" class="card">search <input name="q" id="search" placeholder="latent id or token" value="' + esc(q.q) + '"> ' +
    'fires on token <input name="token" size="10" value="' + esc(q.token) + '"> density from <input name="minDensity" size="7" value="' + esc(q.minDensity) + '"> to ' +
    '<input name="maxDensity" size="7" value="' + esc(q.maxDensity) + '"> sort <select name="sort">' + ['density', 'max_act', 'mean_act', 'id'].map((s) => opt(s, q.sort)).join('') +
    '</select> <select name="order">' + opt('desc', q.order) + opt('asc', q.order) + '</select> <button>go</button></form>' +
    (overview.meta.has_text ? liveBox('live-list', 'type text: which latents fire on each token?') : '') +
    '<p class="muted">' + fmt(res.total) + ' latents; showing ' + (res.total ? q.offset + 1 : 0) + '–' + Math.min(res.total, q.offset + res.items.length) + '</p>' +
    '<table id="latents"><tr><th>latent</th><th>density</th><th>mean act</th><th>max act</th><th>top token</th>' + (truth ? '<th>truth (cos)</th>' : '') + '</tr>' +
    res.items.map((l) => '<tr class="row" data-id="' + l.id + '"><td><a href="#/latent/' + l.id + '">' + l.id + '</a></td><td class="num">' + fmt(l.density) + '</td><td class="num">' +
      fmt(l.mean_act, 3) + '</td><td class="num">' + fmt(l.max_act, 3) + '</td><td class="ctx">' + visible(l.top_token) + '</td>' +
      (truth ? '<td>' + (l.truth_id === null ? '—' : l.truth_id + ' (' + fmt(l.truth_cos, 3) + ')') + '</td>' : '') + '</tr>').join('') + '</table>' +
    '<p>' + (q.offset > 0 ? '<a href="' + link({ offset: Math.max(0, q.offset - 50) }) + '">← previous</a> ' : '') +
    (q.offset + 50 < res.total ? '<a id="next" href="' + link({ offset: q.offset + 50 }) + '">next →</a>' : '') + '</p>';
  document.getElementById('f').onsubmit = (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target));
    location.hash = '#/latents?' + new URLSearchParams({ ...data, offset: 0 });
  };
  for (const tr of document.querySelectorAll('tr.row')) tr.onclick = () => { location.hash = '#/latent/' + tr.dataset.id; };
  wireLive('live-list');
}

/** one latent; links lead to latents of the same SAE (prefix '#/latent/' or, for the compared SAE, '#/other/') */
function latentCard(l, heading, prefix, dh) {
  const list = (xs) => (xs || []).map((x) => '<span class="ctx">' + visible(x.token) + '</span> <span class="muted">' + fmt(x.value, 2) + '</span>').join(', ');
  const examples = (xs) => xs.map((e) => e.tokens.length ? context(e, l.max_act) : '<div class="ctx">row ' + e.row + ': ' + fmt(e.act, 3) + '</div>').join('');
  const dens = dh && l.density > 0 ? histSvg(dh.counts, dh.lo, dh.hi, { mark: Math.log10(l.density), label: 'firing density among all latents', xTitle: 'log10 firing density of every latent (this one in red)', color: '#9ecae9' }) : '';
  return '<div class="card"><h2>' + heading + '</h2>' +
    '<p>density ' + fmt(l.density) + ' (' + fmt(l.count) + ' of the indexed tokens' + (l.density_percentile !== null && l.density_percentile !== undefined ? '; denser than ' + (100 * l.density_percentile).toFixed(0) + '% of the latents that fire' : '') + '), mean ' + fmt(l.mean_act, 3) +
    ', quantiles 50/90/99% ' + fmt(l.q50, 3) + ' / ' + fmt(l.q90, 3) + ' / ' + fmt(l.q99, 3) + ', max ' + fmt(l.max_act, 3) + '</p>' +
    '<div class="grid"><div><label><input type="checkbox" class="logscale"> log counts</label><div class="acthist" data-hist="' + esc(JSON.stringify(l.hist)) + '" data-max="' + l.max_act + '">' +
    histSvg(l.hist, 0, l.max_act, { label: 'activation histogram', xTitle: 'activation (nonzero)' }) + '</div></div><div>' + dens + '</div></div>' +
    (l.truth_id !== null && l.truth_id !== undefined ? '<p>best ground-truth feature: ' + l.truth_id + ' (cosine ' + fmt(l.truth_cos, 3) + ')</p>' : '') +
    (l.logits_top ? '<h3>logit effects</h3><div class="grid"><div>' + (l.logit_hist ? histSvg(l.logit_hist.counts, l.logit_hist.lo, l.logit_hist.hi, { log: true, label: 'logit effect histogram', xTitle: 'logit effect on each vocabulary token (log counts)', color: '#72b7b2' }) : '') +
      '</div><div><p>promotes: ' + list(l.logits_top) + '</p><p>suppresses: ' + list(l.logits_bottom) + '</p></div></div>' : '') +
    '<h3>top activations</h3><div class="examples">' + (l.examples.length ? examples(l.examples) : '<p class="muted">never fired on the indexed tokens</p>') + '</div>' +
    ((l.intervals || []).length ? '<h3>activation intervals</h3>' + l.intervals.map((q) => '<div class="interval"><h4>interval ' + fmt(q.lo, 3) + '–' + fmt(q.hi, 3) + ' <span class="muted">(' + (100 * q.share).toFixed(1) + '% of its activations)</span></h4>' +
      (q.examples.length ? examples(q.examples) : '<p class="muted">none</p>') + '</div>').join('') : '') +
    '<h3>nearest by decoder cosine</h3><p>' + l.neighbors.map((x) => '<a href="' + prefix + x.id + '">' + x.id + '</a> ' + fmt(x.cos, 3)).join(', ') + '</p>' +
    (l.opposing_id !== null ? '<p>most opposing: <a href="' + prefix + l.opposing_id + '">' + l.opposing_id + '</a> (cosine ' + fmt(l.opposing_cos, 3) + ')</p>' : '') + '</div>';
}

function wireHistograms() {
  for (const box of document.querySelectorAll('.logscale')) box.onchange = () => {
    const el = box.parentElement.nextElementSibling;
    el.innerHTML = histSvg(JSON.parse(el.dataset.hist), 0, Number(el.dataset.max), { log: box.checked, label: 'activation histogram', xTitle: 'activation (nonzero)' + (box.checked ? ', log counts' : '') });
  };
}

async function showLatent(id, other) {
  if (!densities) densities = await api('/api/densities');
  const l = await api((other ? '/api/other/latent/' : '/api/latent/') + id);
  const steer = !other && overview.meta.has_text ? '<div class="card"><h3>steering</h3><form id="steer">prompt <input name="prompt" size="40" value="Once upon a time"> scale <input name="scale" size="5" value="10"> ' +
    '<button>continue</button> <span class="muted" id="steer-note">greedy continuation with and without this latent\\'s decoder row added at its site</span></form><div class="side" id="steer-out"></div></div>' : '';
  app.innerHTML = (other ? '<p class="muted">' + esc(overview.compare) + ' (the compared SAE)</p>' : '') + latentCard(l, 'latent ' + l.id, other ? '#/other/' : '#/latent/', other ? null : densities) +
    (!other && overview.meta.has_text ? liveBox('live-latent', 'type text: how strongly does latent ' + l.id + ' fire on each token?') : '') + steer +
    (!other && overview.compare ? '<p><a href="#/compare/' + l.id + '">compare with ' + esc(overview.compare) + '</a></p>' : '');
  wireHistograms();
  if (!other) wireLive('live-latent', l.id);
  const f = document.getElementById('steer');
  if (f) f.onsubmit = async (e) => {
    e.preventDefault();
    const note = document.getElementById('steer-note');
    note.textContent = 'running…';
    try {
      const d = new FormData(f);
      const r = await api('/api/steer?' + new URLSearchParams({ latent: l.id, prompt: d.get('prompt'), scale: d.get('scale') }));
      note.textContent = r.model + ', scale ' + r.scale;
      document.getElementById('steer-out').innerHTML = '<div><h4>without</h4><div class="ctx" id="plain">' + esc(d.get('prompt')) + '<b>' + visible(r.plain) + '</b></div></div>' +
        '<div><h4>steered by latent ' + l.id + '</h4><div class="ctx" id="steered">' + esc(d.get('prompt')) + '<b>' + visible(r.steered) + '</b></div></div>';
    } catch (err) { note.textContent = 'error: ' + err.message; }
  };
}

async function showCompare(id) {
  if (!densities) densities = await api('/api/densities');
  const c = await api('/api/compare/' + id);
  app.innerHTML = '<div class="grid"><div>' + latentCard(c.latent, esc(c.run) + ': latent ' + c.latent.id, '#/latent/', densities) + '</div><div>' +
    c.matches.map((m) => latentCard(m.latent, esc(c.other) + ': latent ' + m.id + ' (decoder cosine ' + fmt(m.cos, 3) + ')', '#/other/', null)).join('') + '</div></div>';
  wireHistograms();
}

async function route() {
  const h = location.hash || '#/';
  try {
    if (!overview) {
      overview = await api('/api/overview');
      document.getElementById('title').textContent = overview.meta.run + ' · ' + overview.cfg.arch + ' · ' + fmt(overview.cfg.n) + ' latents';
    }
    let m;
    if ((m = /^#\\/latent\\/(\\d+)$/.exec(h))) await showLatent(m[1], false);
    else if ((m = /^#\\/other\\/(\\d+)$/.exec(h))) await showLatent(m[1], true);
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
