/** Plots as SVG through vega-lite (rendered headless by vega, no browser or canvas needed). */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';

export async function writeSvg(path: string, spec: TopLevelSpec): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileAtomic(path, [svg]);
}

/** Training curves: FVU (log scale) and dead fraction against tokens. */
export function lossCurveSpec(rows: { tokens: number; fvu: number; dead_fraction: number }[], title: string): TopLevelSpec {
  const values = rows.flatMap((r) => [
    { tokens: r.tokens, value: r.fvu, series: 'FVU' },
    { tokens: r.tokens, value: Math.max(r.dead_fraction, 1e-6), series: 'dead fraction' },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width: 480, height: 260, background: 'white',
    data: { values },
    mark: { type: 'line', point: false },
    encoding: {
      x: { field: 'tokens', type: 'quantitative', title: 'training tokens' },
      y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: 'value (log scale)' },
      color: { field: 'series', type: 'nominal', title: null },
    },
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
