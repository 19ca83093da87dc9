/**
 * Dictionary analyses as jobs (`saekit analyze scales`, `saekit stitch`, `saekit frontier`):
 * each takes folders and settings, runs the analysis, and returns rows for printing; writing
 * the result files is optional.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { activationCorrelation, matchScales, type LatentClass } from '../analysis/matching.js';
import { findManifolds, type ManifoldReport } from '../analysis/manifolds.js';
import { stitch, type StitchMode } from '../analysis/stitch.js';
import type { Backend } from '../compute/backend.js';
import { SyntheticSource } from '../data/synthetic.js';
import { dataIdentity, evaluationData, openData } from '../data/spec.js';
import { compareAtMatchedL0, frontiersByGroup, type FrontierPoint } from '../eval/frontier.js';
import { evaluateSae } from '../eval/metrics.js';
import { frontierSpec, scalesSpec, scatterSpec, writeSvg } from '../eval/plots.js';
import { summary } from '../eval/report.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { camel, snake } from '../io/naming.js';
import type { Sae } from '../sae/common.js';
import { readSaeConfig, saveSae } from '../sae/folder.js';
import { readRunConfig, runConfigPath } from '../train/run-config.js';
import { heldRows } from './evaluate.js';
import { openSae } from './hub.js';

export interface ScaleStep {
  small: string;
  large: string;
  /** "n_small → n_large" */
  label: string;
  fractions: Record<LatentClass, number>;
  /** of the matched latents, the fraction whose best activation-correlated parent is the decoder-cosine parent */
  correlation_agreement: number;
  classes: LatentClass[];
  parent: number[];
  cos: number[];
}

/** Split / discovered / kept per size step of SAEs given smallest first, checked by activation
 *  correlation on held-out rows of `data`; with `out`, scales.json and scales.svg. */
export async function scaleSteps(be: Backend, paths: string[], o: { data: string; tokens: number; novel: number; out?: string }): Promise<ScaleStep[]> {
  if (paths.length < 2) throw new Error('analyze scales: give at least two SAE folders, smallest first');
  const saes = await Promise.all(paths.map((p) => openSae(p)));
  const held = await heldRows(be, o.data, o.tokens);
  const steps: ScaleStep[] = [];
  for (let i = 0; i + 1 < saes.length; i++) {
    const m = matchScales(be, saes[i]!, saes[i + 1]!, o.novel);
    const corr = activationCorrelation(be, saes[i]!, saes[i + 1]!, held.rewind(), held.length);
    const matched = m.cls.flatMap((c, j) => (c === 'discovered' ? [] : [j]));
    const agree = matched.filter((j) => corr.idx[j] === m.parent[j]).length / Math.max(1, matched.length);
    steps.push({
      small: paths[i]!, large: paths[i + 1]!, label: `${saes[i]!.cfg.n} → ${saes[i + 1]!.cfg.n}`, fractions: m.fractions,
      correlation_agreement: agree, classes: m.cls, parent: Array.from(m.parent), cos: Array.from(m.cos),
    });
  }
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeJsonAtomic(join(o.out, 'scales.json'), { novel: o.novel, steps });
    await writeSvg(join(o.out, 'scales.svg'), scalesSpec(steps.flatMap((st) => Object.entries(st.fractions).map(([cls, f]) => ({ step: st.label, cls, f })))));
  }
  return steps;
}

/** `saekit analyze manifolds`: groups of latents that represent a subspace together, scored for
 *  irreducibility, on held-out rows of the data (default: the SAE's own); with `out`,
 *  manifolds.json and one scatter per group (top 8), coloured by the planted angle on synthetic
 *  data and by the group's most active latent otherwise. */
export async function manifoldsJob(be: Backend, saePath: string, o: { data?: string; tokens: number; out?: string; minPlane?: number }): Promise<{ report: ManifoldReport; description: string }> {
  const sae = await openSae(saePath);
  if (!o.data && !sae.cfg.data) throw new Error(`${saePath}: the SAE does not say what data it was trained on; pass --data`);
  const { spec } = evaluationData(o.data ?? sae.cfg.data, o.tokens, o.data === undefined, o.data ? '--data' : `${saePath} cfg.json data`);
  const src = await openData(spec, be);
  if (src.d !== sae.cfg.d) throw new Error(`data ${src.description} has d=${src.d}, the SAE reads d=${sae.cfg.d}`);
  // one read, so a synthetic source's angles cover every row
  const x = new Float32Array(o.tokens * src.d);
  const rows = src.read(x, o.tokens);
  const angles = src instanceof SyntheticSource ? src.lastManifoldValues : null;
  const report = findManifolds(be, sae, x.subarray(0, rows * src.d), rows, { ...(src.truth ? { truth: src.truth } : {}), ...(o.minPlane !== undefined ? { minPlane: o.minPlane } : {}) });
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    const M = src.truth?.manifolds?.length ?? 0;
    writeJsonAtomic(join(o.out, 'manifolds.json'), {
      sae: saePath, data: src.description, rows, truth: report.truth ?? null,
      groups: report.groups.map(({ points: _p, pointRows: _r, pointLatents: _l, ...g }) => g),
    });
    for (const [gi, g] of report.groups.slice(0, 8).entries()) {
      const values = Array.from(g.pointRows, (r, t) => ({
        x: g.points[2 * t]!, y: g.points[2 * t + 1]!,
        c: angles && g.manifold !== undefined ? (angles[(r * M + g.manifold) * 2]! * 180) / Math.PI : `latent ${g.pointLatents[t]}`,
      })).filter((v) => typeof v.c === 'string' || Number.isFinite(v.c));
      const what = `${g.latents.length} latents, M ${g.mixture.toFixed(2)}, S ${g.separability.toFixed(2)}${g.irreducible ? ', irreducible' : ''}`;
      await writeSvg(join(o.out, `group-${gi}.svg`), scatterSpec(values, { title: `group ${gi}: ${what}`, color: angles && g.manifold !== undefined ? 'angle φ (degrees)' : 'most active latent', nominal: !(angles && g.manifold !== undefined) }));
    }
  }
  return { report, description: src.description };
}

/** Stitches two SAEs into `out` (with its eval.json, so frontier takes it like any run) and
 *  evaluates all three on the same held-out rows. */
export async function stitchJob(be: Backend, smallPath: string, largePath: string, o: { data: string; out: string; mode: StitchMode; novel: number; tokens: number }):
  Promise<{ name: string; n: number; l0: number; fvu: number }[]> {
  const small = await openSae(smallPath), large = await openSae(largePath);
  const st = stitch(small, large, matchScales(be, small, large, o.novel), o.mode);
  saveSae(o.out, st);
  const held = await heldRows(be, o.data, o.tokens);
  return ([[smallPath, small], [o.out, st], [largePath, large]] as [string, Sae][]).map(([name, sae]) => {
    const ev = evaluateSae(be, sae, held.rewind(), held.length);
    if (sae === st) writeJsonAtomic(join(o.out, 'eval.json'), { data: held.description, ...summary(ev) });
    return { name, n: sae.cfg.n, l0: ev.l0, fvu: ev.fvu };
  });
}

/** A run's (L0, FVU) from its eval.json, grouped by a field of its config.json (or, for SAE
 *  folders that are not runs, its cfg.json); `groupBy` in either case convention. */
/** A run on the frontier, with what its L0 and FVU are about. */
export interface RunPoint extends FrontierPoint {
  arch: string;
  /** the activations it was trained on (dataIdentity) */
  dataId: string;
}

export function runPoint(run: string, groupBy: string): RunPoint {
  const evalPath = join(run, 'eval.json');
  if (!existsSync(evalPath)) throw new Error(`${run}: no eval.json (train it to the end, or run: saekit eval ${run} --data PATH --save)`);
  const ev = readJsonObject(evalPath);
  if (typeof ev.l0 !== 'number' || typeof ev.fvu !== 'number') throw new Error(`${evalPath}: fields "l0" and "fvu" must be numbers`);
  const isRun = existsSync(runConfigPath(run));
  const cfgPath = isRun ? runConfigPath(run) : join(run, 'cfg.json');
  const cfg: Record<string, unknown> = isRun ? readRunConfig(run)!.cfg : existsSync(cfgPath) ? { ...readSaeConfig(run) } : {};
  const key = camel(groupBy);
  if (groupBy !== 'none' && !(key in cfg)) throw new Error(`${cfgPath}: no field "${groupBy}" to group by (has: ${Object.keys(cfg).map(snake).join(', ')})`);
  const arch = String(cfg.arch ?? 'topk');
  const dataId = typeof cfg.data === 'string' ? dataIdentity(cfg.data) : 'unknown data';
  return { label: run, group: groupBy === 'none' ? 'all' : `${groupBy}=${String(cfg[key])}`, l0: ev.l0, fvu: ev.fvu, arch, dataId };
}

/** k-sparse codes whose L0 is exactly k on every token; the others' L0 is a mean over tokens. */
const EXACT_L0 = new Set(['topk']);

/** What makes a frontier comparison of these runs misleading: different activations, L0s of
 *  different meaning, a dense code. */
export function frontierWarnings(points: RunPoint[]): string[] {
  const w: string[] = [];
  const datas = [...new Set(points.map((p) => p.dataId))];
  if (datas.length > 1) w.push(`the runs were trained on different activations (${datas.join('; ')}): their FVUs measure different things`);
  const archs = [...new Set(points.map((p) => p.arch))];
  const exact = archs.filter((a) => EXACT_L0.has(a)), mean = archs.filter((a) => !EXACT_L0.has(a) && a !== 'vae');
  if (exact.length && mean.length) w.push(`L0 is exactly k on every token for ${exact.join(', ')} but an average over tokens for ${mean.join(', ')}: at matched L0 the latter may spend more latents on some tokens than others`);
  if (archs.includes('vae')) w.push('the vae is dense (L0 = n): it is not on an L0 frontier');
  return w;
}

/** Frontiers per group, every pair of groups compared at matched L0, as markdown lines; with
 *  `out`, frontier.md, frontier.json and frontier.svg. */
export async function frontierReport(runs: string[], o: { groupBy: string; out?: string }): Promise<string[]> {
  const points = runs.map((r) => runPoint(r, o.groupBy));
  const { groups, dominated } = frontiersByGroup(points);
  const lines = ['| run | group | L0 | FVU | status |', '|---|---|---|---|---|'];
  for (const p of [...points].sort((a, b) => a.group.localeCompare(b.group) || a.l0 - b.l0)) {
    const onFrontier = groups.get(p.group)!.includes(p);
    lines.push(`| ${p.label} | ${p.group} | ${p.l0.toFixed(2)} | ${p.fvu.toFixed(5)} | ${dominated.has(p) ? 'dominated' : onFrontier ? 'frontier' : 'dominated in its group'} |`);
  }
  for (const w of frontierWarnings(points)) lines.push('', `warning: ${w}`);
  const names = [...groups.keys()];
  const comparisons = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const c = compareAtMatchedL0(names[i]!, groups.get(names[i]!)!, names[j]!, groups.get(names[j]!)!);
      comparisons.push(c);
      lines.push('', c.range
        ? `${c.a} vs ${c.b}: over L0 ${c.range[0].toFixed(1)}–${c.range[1].toFixed(1)}, FVU ratio (geometric mean) ${c.geoMeanRatio.toFixed(3)} → ${c.geoMeanRatio < 1 ? c.a : c.b} is better at matched L0`
        : `${c.a} vs ${c.b}: the frontiers share no L0 range; no matched comparison is possible`);
    }
  }
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeFileAtomic(join(o.out, 'frontier.md'), [lines.join('\n') + '\n']);
    writeJsonAtomic(join(o.out, 'frontier.json'), { points, frontiers: Object.fromEntries(groups), comparisons });
    await writeSvg(join(o.out, 'frontier.svg'), frontierSpec(points.map((p) => ({ ...p, onFrontier: groups.get(p.group)!.includes(p) }))));
  }
  return lines;
}
