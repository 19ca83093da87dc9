/** Plots as SVG through vega-lite (rendered headless by vega, no browser or canvas needed). */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export async function writeSvg(path: string, spec: TopLevelSpec): Promise<void> {
  writeFileAtomic(path, [await renderSvg(spec)]);
}

export interface LossRow {
  tokens: number;
  fvu: number;
  dead_fraction: number;
  l0?: number;
  lr?: number;
}

/** Training curves against tokens: FVU (log scale), L0, dead-latent fraction and learning
 *  rate, each a line with points (a run of two logged steps still draws). */
export function lossCurveSpec(rows: LossRow[], title: string): TopLevelSpec {
  const x = { field: 'tokens', type: 'quantitative' as const, title: 'training tokens', axis: { format: '~s' } };
  const panel = (field: string, yTitle: string, color: string, extra: Record<string, unknown> = {}, height = 90) => ({
    width: 480, height, mark: { type: 'line' as const, color, point: { color, size: 12 } },
    transform: [{ filter: `isValid(datum.${field})` }],
    encoding: { x, y: { field, type: 'quantitative' as const, title: yTitle, ...extra } },
  });
  const has = (k: keyof LossRow): boolean => rows.some((r) => typeof r[k] === 'number');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, background: 'white',
    data: { values: rows.map((r) => ({ tokens: r.tokens, fvu: r.fvu, dead: r.dead_fraction, l0: r.l0 ?? null, lr: r.lr ?? null })) },
    vconcat: [
      panel('fvu', 'FVU (log)', '#4c78a8', { scale: { type: 'log' } }, 180),
      ...(has('l0') ? [panel('l0', 'L0', '#2ca02c')] : []),
      panel('dead', 'dead fraction', '#d62728', { axis: { format: '.1%' } }),
      ...(has('lr') ? [panel('lr', 'learning rate', '#9467bd', { axis: { format: '.1e' } }, 70)] : []),
    ],
  };
}

/** Runs on the MSE–L0 plane, labelled, coloured by architecture, the Pareto-optimal ones
 *  joined by a line and ringed, the current run (if any) drawn larger in black. */
export function runsSpec(values: { run: string; arch: string; l0: number; fvu: number; pareto: boolean; current?: boolean }[], title: string): TopLevelSpec {
  const enc = {
    x: { field: 'l0', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'L0 (log)' },
    y: { field: 'fvu', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'FVU (log)' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width: 480, height: 300, background: 'white',
    data: { values: values.map((v) => ({ ...v, current: Boolean(v.current) })) },
    encoding: enc,
    layer: [
      { mark: { type: 'line', color: '#999', strokeDash: [4, 3] }, transform: [{ filter: 'datum.pareto' }] },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { color: { field: 'arch', type: 'nominal', title: 'architecture' } } },
      { mark: { type: 'point', size: 200, color: '#333', strokeWidth: 1.5 }, transform: [{ filter: 'datum.pareto' }] },
      { mark: { type: 'point', shape: 'diamond', filled: true, size: 220, color: 'black' }, transform: [{ filter: 'datum.current' }] },
      { mark: { type: 'text', align: 'left', dx: 8, dy: -6, fontSize: 10 }, encoding: { text: { field: 'run' } } },
    ],
  };
}

/** Histogram of log10 latent firing density, dead latents noted in the title. */
export function densitySpec(density: Float64Array, title: string): TopLevelSpec {
  const values = Array.from(density).filter((f) => f > 0).map((f) => ({ log10density: Math.log10(f) }));
  const dead = density.length - values.length;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${title} (${dead} of ${density.length} latents never fired)`, width: 480, height: 260, background: 'white',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'log10density', type: 'quantitative', bin: { maxbins: 40 }, title: 'log10 firing frequency' },
      y: { aggregate: 'count', type: 'quantitative', title: 'latents' },
    },
  };
}

/** Lines with points of y against x, one per series; optional log axes. */
export function lineSpec(values: Record<string, unknown>[], o: { x: string; y: string; series: string; title: string;
  xTitle?: string; yTitle?: string; logX?: boolean; logY?: boolean }): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: o.title, width: 480, height: 280, background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: o.x, type: 'quantitative', title: o.xTitle ?? o.x, ...(o.logX ? { scale: { type: 'log' } } : {}) },
      y: { field: o.y, type: 'quantitative', title: o.yTitle ?? o.y, ...(o.logY ? { scale: { type: 'log' } } : {}) },
      color: { field: o.series, type: 'nominal', title: null, legend: { labelLimit: 400, orient: 'bottom', direction: 'vertical' } },
    },
  };
}

/** The MSE–L0 plane: every point (faded when off its group's frontier), each group's frontier as a line. */
export function frontierSpec(values: { group: string; l0: number; fvu: number; onFrontier: boolean }[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'MSE–L0 frontier', width: 480, height: 300, background: 'white',
    data: { values },
    encoding: {
      x: { field: 'l0', type: 'quantitative', scale: { type: 'log' }, title: 'L0 (log)' },
      y: { field: 'fvu', type: 'quantitative', scale: { type: 'log' }, title: 'FVU (log)' },
      color: { field: 'group', type: 'nominal' },
    },
    layer: [
      { mark: { type: 'line' }, transform: [{ filter: 'datum.onFrontier' }] },
      { mark: { type: 'point', filled: true, size: 50 }, encoding: { opacity: { condition: { test: 'datum.onFrontier', value: 1 }, value: 0.35 } } },
    ],
  };
}

/** Histogram of each latent's most negative cosine to another latent, the thresholds as rules. */
export function opposingSpec(minCos: Float32Array, thresholds: number[], n: number): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `most negative cosine to another latent (n=${n})`, width: 480, height: 260, background: 'white',
    data: { values: Array.from(minCos, (v) => ({ cos: v })) },
    layer: [
      { mark: 'bar', encoding: { x: { field: 'cos', type: 'quantitative', bin: { maxbins: 50 }, title: 'min cosine' }, y: { aggregate: 'count', type: 'quantitative', scale: { type: 'symlog' }, title: 'latents (symlog)' } } },
      { data: { values: thresholds.map((t) => ({ t })) }, mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] }, encoding: { x: { field: 't', type: 'quantitative' } } },
    ],
  };
}

/** Stacked fractions of the larger SAE's latents by class (split / discovered / kept), per size step. */
export function scalesSpec(values: { step: string; cls: string; f: number }[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'larger-SAE latents by class, per size step', width: 360, height: 240, background: 'white',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'step', type: 'nominal', title: 'size step', sort: null },
      y: { field: 'f', type: 'quantitative', stack: 'normalize', title: 'fraction of latents', axis: { format: '%' } },
      color: { field: 'cls', type: 'nominal', title: 'class' },
    },
  };
}

/** Points on a plane coloured by a value (an angle, a latent): one group's reconstructions on
 *  its top two principal components. */
export function scatterSpec(values: { x: number; y: number; c: number | string }[], o: { title: string; color: string; nominal?: boolean }): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: o.title, width: 320, height: 320, background: 'white',
    data: { values },
    mark: { type: 'circle', size: 14, opacity: 0.7 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'PC 1 (standardized)' },
      y: { field: 'y', type: 'quantitative', title: 'PC 2 (standardized)' },
      color: o.nominal
        ? { field: 'c', type: 'nominal', title: o.color }
        : { field: 'c', type: 'quantitative', title: o.color, scale: { scheme: 'rainbow' } },
    },
  };
}
