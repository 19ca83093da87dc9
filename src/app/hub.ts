/**
 * Published SAEs by name and runs pushed to the hub (docs/design.md §6.4): the four folder
 * layouts saekit reads (its own, SAELens, sparsify, Gemma Scope), found in a repo listing or a
 * local folder; an SAE opened from any of them, local or `hf:ORG/REPO[/PATH][@REV]`; a run
 * uploaded in saekit's, SAELens's or sparsify's layout with a generated model card.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { readEvalSummary } from '../eval/report.js';
import { saeOrigin } from './evaluate.js';
import { exportSaeLens, importSaeLens, isSaeLensFolder, SAELENS_WEIGHTS, type SaeLensMeta } from '../formats/saelens.js';
import { exportSparsify, importSparsify, isSparsifyFolder } from '../formats/sparsify.js';
import { GEMMA_SCOPE_PARAMS, gemmaScopeOrigin, importGemmaScope, isGemmaScopeFolder } from '../formats/gemmascope.js';
import { hookName } from '../formats/hooks.js';
import { fetchFiles, formatHubRef, listRepo, parseHubRef, pushFolder, type HubFile, type HubRef } from '../hub/client.js';
import { readJsonObject } from '../io/json.js';
import type { Site } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';
import { hasSaeWeights, loadSae, saveSae } from '../sae/folder.js';

export type SaeLayout = 'saekit' | 'saelens' | 'sparsify' | 'gemmascope';

export interface FoundSae {
  /** the folder inside the repo ('' for its root) */
  folder: string;
  /** 'saekit-or-sparsify' until cfg.json is read (both keep cfg.json + sae.safetensors) */
  layout: SaeLayout | 'saekit-or-sparsify';
  files: HubFile[];
  bytes: number;
}

/** The SAE folders in a repo listing, by the files each layout keeps. */
export function findSaes(files: HubFile[]): FoundSae[] {
  const byFolder = new Map<string, HubFile[]>();
  for (const f of files) {
    const folder = posix.dirname(f.path) === '.' ? '' : posix.dirname(f.path);
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), f]);
  }
  const out: FoundSae[] = [];
  for (const [folder, fs] of byFolder) {
    const has = (name: string): boolean => fs.some((f) => posix.basename(f.path) === name);
    const layout = has(GEMMA_SCOPE_PARAMS) ? 'gemmascope' : has('cfg.json') && has(SAELENS_WEIGHTS) ? 'saelens' : has('cfg.json') && has('sae.safetensors') ? 'saekit-or-sparsify' : null;
    if (!layout) continue;
    const needed = layout === 'gemmascope' ? [GEMMA_SCOPE_PARAMS] : ['cfg.json', layout === 'saelens' ? SAELENS_WEIGHTS : 'sae.safetensors'];
    const keep = fs.filter((f) => needed.includes(posix.basename(f.path)));
    // sparsify keeps its training config (model, ctx_len) beside the hookpoint folders
    const runCfg = files.find((f) => f.path === posix.join(posix.dirname(folder), 'config.json').replace(/^\.\//, ''));
    if (layout === 'saekit-or-sparsify' && folder && runCfg) keep.push(runCfg);
    out.push({ folder, layout, files: keep, bytes: keep.reduce((a, f) => a + f.size, 0) });
  }
  return out.sort((a, b) => a.folder.localeCompare(b.folder, undefined, { numeric: true }));
}

/** The layout of a local folder, or null. */
export function localLayout(dir: string): SaeLayout | null {
  if (isGemmaScopeFolder(dir)) return 'gemmascope';
  if (isSaeLensFolder(dir)) return 'saelens';
  if (!existsSync(join(dir, 'cfg.json')) || !hasSaeWeights(dir)) return null;
  const cfg = readJsonObject(join(dir, 'cfg.json'));
  return cfg.format === 'saekit-sae' || 'arch' in cfg ? 'saekit' : isSparsifyFolder(dir) ? 'sparsify' : null;
}

export interface OpenSaeOptions {
  /** SAELens expected_average_only_in SAEs: the norm scaling factor */
  normScale?: number;
  log?: (line: string) => void;
}

/** Reads an SAE folder of any layout saekit knows. */
export function readSaeFolder(dir: string, from: string, o: OpenSaeOptions = {}, hub?: { repo: string; path: string }): Sae {
  const layout = localLayout(dir);
  switch (layout) {
    case 'saekit': return loadSae(dir);
    case 'saelens': return importSaeLens(dir, { from, ...(o.normScale !== undefined ? { normScale: o.normScale } : {}) });
    case 'sparsify': return importSparsify(dir, { from });
    case 'gemmascope': return importGemmaScope(dir, gemmaScopeOrigin(hub?.repo ?? '', hub?.path ?? dir, from));
    default: throw new Error(`${dir}: not an SAE folder saekit can read (saekit: cfg.json + sae.safetensors; SAELens: cfg.json + ${SAELENS_WEIGHTS}; sparsify: cfg.json with d_in + sae.safetensors; Gemma Scope: ${GEMMA_SCOPE_PARAMS})`);
  }
}

/** The one SAE `ref` names: its folder, or the only SAE under it; several are listed by name. */
export async function locateSae(ref: HubRef): Promise<FoundSae> {
  // the whole repo is listed: sparsify's training config sits above the SAE folders
  const under = (folder: string): boolean => !ref.path || folder === ref.path || folder.startsWith(ref.path + '/');
  const { files, cached } = await listRepo({ ...ref, path: '' });
  const found = findSaes(files).filter((f) => under(f.folder));
  const exact = found.find((f) => f.folder === ref.path);
  if (exact) return exact;
  if (found.length === 1) return found[0]!;
  const where = formatHubRef(ref);
  if (found.length === 0 && cached) throw new Error(`${where}: ${cached}`);
  if (found.length === 0) throw new Error(`${where}: no SAE folder here (saekit reads saekit, SAELens, sparsify and Gemma Scope layouts; see saekit hub ls)`);
  const names = found.slice(0, 12).map((f) => formatHubRef({ ...ref, path: f.folder }));
  throw new Error(`${where} holds ${found.length} SAEs; name one, e.g.\n  ${names.join('\n  ')}${found.length > 12 ? `\n  … (saekit hub ls ${formatHubRef({ ...ref, path: '' })} lists all)` : ''}`);
}

/** An SAE from a saekit/SAELens/sparsify/Gemma Scope folder or hf:ORG/REPO[/PATH][@REV]. */
export async function openSae(spec: string, o: OpenSaeOptions = {}): Promise<Sae> {
  if (!spec.startsWith('hf:')) {
    if (!existsSync(spec)) throw new Error(`${spec}: no such folder`);
    return readSaeFolder(spec, spec, o);
  }
  const ref = parseHubRef(spec);
  const sae = await locateSae(ref);
  const dir = await fetchFiles({ ...ref, path: sae.folder }, sae.files.map((f) => f.path), o.log ?? ((l) => process.stderr.write(l + '\n')));
  return readSaeFolder(dir, formatHubRef({ ...ref, path: sae.folder }), o, { repo: ref.repo, path: sae.folder });
}

/** `saekit hub ls`: the SAEs in a repo (folder, layout, size) and then every file. */
export async function hubListing(spec: string): Promise<string[]> {
  const ref = parseHubRef(spec);
  const { files, cached } = await listRepo(ref);
  const saes = findSaes(files);
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `${formatHubRef(ref)}: ${files.length} files, ${saes.length} SAE${saes.length === 1 ? '' : 's'}${cached ? ' (what the cache holds: the hub is off or unreachable)' : ''}`,
    ...saes.map((s) => `  ${formatHubRef({ ...ref, path: s.folder }).padEnd(48)} ${s.layout.padEnd(18)} ${mb(s.bytes)}`),
    'files:',
    ...files.map((f) => `  ${f.path.padEnd(56)} ${String(f.size).padStart(12)}${f.lfs ? '  lfs' : ''}`),
  ];
}

/** Where an SAE reads its activations (saeOrigin), with an imported SAE's dataset. */
export function saeSite(sae: Sae): { model?: string; layer?: number; site?: string; ctx?: number; dataset?: string } {
  const o = saeOrigin(sae);
  const dataset = sae.cfg.origin?.dataset ?? o?.corpus;
  return { ...(o ? { model: o.model, layer: o.layer, site: o.site, ctx: o.ctx } : {}), ...(dataset ? { dataset } : {}) };
}

/** SAELens metadata from what the SAE records (flags win). */
export function saeLensMeta(sae: Sae, given: SaeLensMeta = {}): SaeLensMeta {
  const s = saeSite(sae);
  const hook = s.layer !== undefined && s.site ? hookName(s.layer, s.site as Site) : undefined;
  return {
    hookName: given.hookName ?? sae.cfg.origin?.hook_name ?? hook, modelName: given.modelName ?? s.model,
    contextSize: given.contextSize ?? s.ctx, dataset: given.dataset ?? s.dataset,
  };
}

export type PushFormat = 'saekit' | 'saelens' | 'sparsify';

/** The model card (README.md) of a pushed SAE. */
export function modelCard(sae: Sae, o: { format: PushFormat; ref: HubRef; evalPath?: string; plots: string[] }): string {
  const { arch, d, n, k, dOut } = sae.cfg;
  const s = saeSite(sae);
  const where = s.layer !== undefined ? `${s.model ?? 'a model'} layer ${s.layer} ${s.site}` : 'its training activations';
  const rows: [string, string][] = [
    ['architecture', arch + (dOut ? ` transcoder (to ${dOut})` : '')], ['d_in', String(d)], ['latents', String(n)],
    ...(k ? [['k', String(k)] as [string, string]] : []), ['training data', `\`${sae.cfg.data || sae.cfg.origin?.imported_from || 'unknown'}\``],
    ...(s.layer !== undefined ? [['hook', `${hookName(s.layer, s.site as Site)} (TransformerLens)`] as [string, string]] : []),
    ['layout', o.format],
  ];
  const lines = [
    '---', 'library_name: saekit', `tags: [saekit, sparse-autoencoder, ${arch}${o.format === 'saelens' ? ', saelens' : ''}]`, '---', '',
    `# ${arch} SAE with ${n} latents on ${where}`, '', 'Trained with [saekit](https://www.npmjs.com/package/saekit).', '',
    '| field | value |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`), '',
  ];
  if (o.evalPath && existsSync(o.evalPath)) {
    const e = readEvalSummary(o.evalPath);
    const metric = (name: string, v: number | undefined): string[] => v === undefined ? [] : [`| ${name} | ${Number.isInteger(v) ? v : v.toFixed(5)} |`];
    const ds = (e as { downstream?: { ce_recovered?: number; kl?: number } }).downstream;
    lines.push('## Held-out metrics', '', `Evaluated on ${e.tokens} tokens.`, '', '| metric | value |', '|---|---|',
      ...metric('FVU', e.fvu), ...metric('normalized MSE', e.normalized_mse), ...metric('L0', e.l0), ...metric('never fired (fraction)', e.never_fired_fraction),
      ...metric('CE loss recovered', ds?.ce_recovered), ...metric('KL (spliced vs clean)', ds?.kl), '');
  }
  const at = formatHubRef(o.ref);
  lines.push('## Loading', '', '```sh', `npx saekit import ${at} --out my-sae`, `npx saekit eval ${at} --model MODEL --corpus TEXT`, '```', '');
  if (o.format === 'saelens') lines.push('In Python: `SAE.load_from_disk(...)` of SAELens reads this folder (cfg.json + sae_weights.safetensors).', '');
  if (o.format === 'sparsify') lines.push('In Python: sparsify\'s `SparseCoder.load_from_disk(...)` reads this folder (cfg.json + sae.safetensors).', '');
  if (o.plots.length) lines.push('## Training', '', ...o.plots.map((p) => `![${p.replace(/\.(svg|png)$/, '')}](${p})`), '');
  return lines.join('\n');
}

/** `saekit push`: the run's SAE in `format`, its card and plots, uploaded in one commit. */
export async function pushRun(run: string, spec: string, o: { format: PushFormat; meta?: SaeLensMeta }): Promise<{ commit: string; files: string[]; ref: HubRef }> {
  const sae = loadSae(run);
  const ref = parseHubRef(spec, 'push target');
  const s = saeSite(sae);
  if (!ref.path && o.format === 'sparsify' && s.layer !== undefined) ref.path = s.site === 'mlp_out' ? `layers.${s.layer}.mlp` : `layers.${s.layer}`;
  const tmp = mkdtempSync(join(tmpdir(), 'saekit-push-'));
  try {
    if (o.format === 'saelens') exportSaeLens(sae, tmp, saeLensMeta(sae, o.meta));
    else if (o.format === 'sparsify') exportSparsify(sae, tmp);
    else saveSae(tmp, sae);
    const plots = ['loss.svg', 'density.svg'].filter((p) => existsSync(join(run, p)));
    for (const p of plots) copyFileSync(join(run, p), join(tmp, p));
    writeFileSync(join(tmp, 'README.md'), modelCard(sae, { format: o.format, ref, evalPath: join(run, 'eval.json'), plots }));
    const files = readdirSync(tmp).sort();
    const commit = await pushFolder(ref, tmp, files, `saekit push: ${sae.cfg.arch} SAE (${o.format} layout)`);
    return { commit, files, ref };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
