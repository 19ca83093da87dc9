/** `saekit analyze ...`: research questions asked of a trained dictionary. */
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { opposingDirections } from '../analysis/opposing.js';
import { manifoldsJob, scaleSteps } from '../app/analyze.js';
import { openSae } from '../app/hub.js';
import { getBackend } from '../compute/backend.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { opposingSpec, writeSvg } from '../eval/plots.js';
import { decoderWidth } from '../sae/geometry.js';
import { intFlag, realFlag } from './flags.js';

function opposingCommand(): Command {
  return new Command('opposing')
    .description('each latent\'s most negative decoder cosine to any other latent: counts, pairs, histogram')
    .argument('<sae>', 'SAE or run folder (any layout saekit reads), or hf:ORG/REPO[/PATH]')
    .option('--threshold <t...>', 'cosine thresholds to count below', ['-0.9', '-0.7'])
    .option('--encoder', 'search the encoder rows instead of the decoder rows')
    .option('--block <rows>', 'rows per Gram block', intFlag('--block', 1), 4096)
    .option('--out <dir>', 'write opposing.json, pairs.csv and opposing.svg here')
    .action(async (path: string, o: { threshold: string[]; encoder?: boolean; block: number; out?: string }) => {
      const thresholds = o.threshold.map(realFlag('--threshold', -1, 1));
      const sae = await openSae(path);
      // encoder rows have width d; decoder rows the output width (d_out for a transcoder)
      const n = sae.cfg.n, d = o.encoder ? sae.cfg.d : decoderWidth(sae);
      const rows = Float32Array.from(o.encoder ? sae.params.W_enc : sae.params.W_dec);
      const t0 = performance.now();
      const res = opposingDirections(getBackend(), rows, n, d, thresholds, o.block);
      const sec = (performance.now() - t0) / 1000;
      console.log(`${o.encoder ? 'encoder' : 'decoder'} rows of ${path}: n=${n}, d=${d} (${sec.toFixed(2)} s)`);
      for (const c of res.counts) console.log(`  latents with a partner below ${c.threshold}: ${c.latents} (${((100 * c.latents) / n).toFixed(2)}%)`);
      for (const p of res.pairs.slice(0, 10)) console.log(`  ${p.i} ~ ${p.j}  cos ${p.cos.toFixed(4)}`);
      if (res.pairs.length > 10) console.log(`  … ${res.pairs.length - 10} more pairs`);
      if (!o.out) return;
      mkdirSync(o.out, { recursive: true });
      writeJsonAtomic(join(o.out, 'opposing.json'), { sae: path, rows: o.encoder ? 'encoder' : 'decoder', n, d, counts: res.counts, pairs: res.pairs.length });
      writeFileAtomic(join(o.out, 'pairs.csv'), ['i,j,cos\n', ...res.pairs.map((p) => `${p.i},${p.j},${p.cos}\n`)]);
      await writeSvg(join(o.out, 'opposing.svg'), opposingSpec(res.minCos, thresholds, n));
      console.log(`saekit: wrote ${o.out}/{opposing.json,pairs.csv,opposing.svg}`);
    });
}

function scalesCommand(): Command {
  return new Command('scales')
    .description('classify each latent of a larger SAE as split, discovered or kept relative to the next smaller SAE')
    .argument('<saes...>', 'two or more SAEs (folders of any layout saekit reads, or hf:ORG/REPO/PATH), smallest first')
    .requiredOption('--data <path>', 'held-out activations for activation correlations')
    .option('--tokens <n>', 'held-out tokens', intFlag('--tokens', 1), 32768)
    .option('--novel <cos>', 'below this best decoder cosine a latent counts as discovered', realFlag('--novel', -1, 1), 0.6)
    .option('--out <dir>', 'write scales.json here')
    .action(async (paths: string[], o: { data: string; tokens: number; novel: number; out?: string }) => {
      const steps = await scaleSteps(getBackend(), paths, o);
      console.log('| step | split | discovered | kept | activation correlation agrees |\n|---|---|---|---|---|');
      const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
      for (const st of steps) console.log(`| ${st.label} | ${pct(st.fractions.split)} | ${pct(st.fractions.discovered)} | ${pct(st.fractions.kept)} | ${pct(st.correlation_agreement)} |`);
      if (o.out) console.log(`saekit: wrote ${o.out}/{scales.json,scales.svg}`);
    });
}

function manifoldsCommand(): Command {
  return new Command('manifolds')
    .description('groups of latents that represent a plane or 3-space together (circles, spheres), scored for irreducibility as Engels et al. 2024 define it')
    .argument('<sae>', 'SAE or run folder (any layout saekit reads), or hf:ORG/REPO[/PATH]')
    .option('--data <spec>', 'activations (default: the SAE\'s training data, its held-out part)')
    .option('--tokens <n>', 'rows to analyze', intFlag('--tokens', 100), 20000)
    .option('--min-plane <share>', 'a latent joins a plane\'s group with at least this share of its decoder\'s squared norm in the plane', realFlag('--min-plane', 0.05, 1), 0.5)
    .option('--out <dir>', 'write manifolds.json and a scatter per group (group-N.svg) here')
    .action(async (path: string, o: { data?: string; tokens: number; out?: string; minPlane: number }) => {
      const { report, description } = await manifoldsJob(getBackend(), path, o);
      console.log(`${path} on ${o.tokens} rows of ${description}: ${report.groups.length} groups, ${report.groups.filter((g) => g.irreducible).length} irreducible`);
      console.log('| group | latents | rows | PC variance (top 3) | mixture M | separability S | irreducible |' + (report.truth ? ' planted manifold |' : '') + '\n|---|---|---|---|---|---|---|' + (report.truth ? '---|' : ''));
      report.groups.slice(0, 20).forEach((g, i) => console.log(`| ${i} | ${g.latents.length} | ${g.rows} | ${g.pcVar.map((v) => v.toFixed(2)).join(' / ')} | ${g.mixture.toFixed(2)} | ${g.separability.toFixed(2)} | ${g.irreducible ? 'yes' : 'no'} |` +
        (report.truth ? ` ${g.manifold ?? '—'} |` : '')));
      if (report.groups.length > 20) console.log(`… ${report.groups.length - 20} more groups`);
      if (report.truth) {
        const t = report.truth;
        console.log(`planted manifolds: ${t.manifolds}; recall ${t.recall.toFixed(2)}, precision ${t.precision.toFixed(2)}; latents per manifold ${t.latentsPer.join(', ')}, covered ${t.covered.map((c) => c.toFixed(2)).join(', ')}`);
      }
      if (o.out) console.log(`saekit: wrote ${o.out}/manifolds.json and group-N.svg`);
    });
}

export function analyzeCommand(): Command {
  return new Command('analyze').description('analyses of trained dictionaries')
    .addCommand(opposingCommand()).addCommand(scalesCommand()).addCommand(manifoldsCommand());
}
