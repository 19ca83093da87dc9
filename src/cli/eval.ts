/** `saekit eval RUN --data PATH [--json]`: evaluate a trained SAE on activations. */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { evaluateJob, evaluateLayers, layerRuns } from '../app/evaluate.js';
import { openSae } from '../app/hub.js';
import { getBackend, PRECISIONS, type Precision } from '../compute/backend.js';
import type { DownstreamResult } from '../eval/downstream.js';
import { densityHistogram } from '../eval/metrics.js';
import { evalWarnings, formatSummary, summary } from '../eval/report.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { SITES, type Site } from '../lm/transformer.js';
import { hasSaeWeights } from '../sae/folder.js';
import { intFlag, realFlag } from './flags.js';

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a trained SAE: FVU, normalized MSE, L0, dead fraction, density histogram, MMCS on synthetic data; ' +
      'with --model, on the model\'s held-out activations plus downstream CE (clean, spliced, zero-ablated) and KL')
    .argument('<run>', 'run folder, an SAE folder of any layout saekit reads (saekit, SAELens, sparsify, Gemma Scope), hf:ORG/REPO[/PATH][@REV], or the --out of train --layers (with --model: each layer spliced in alone, then all together)')
    .option('--data <path>', 'activations: a shard folder, a .safetensors file, synthetic[:options] or lm:options (synthetic data: its held-out stream 1 unless stream= is named; lm: the corpus\'s last contexts unless from= is named)')
    .option('--model <path>', 'a language model (llama2.c .bin, Hugging Face folder, hf:ORG/NAME): splice the SAE in and measure CE')
    .option('--corpus <path>', 'text for --model (default: the corpus the SAE was trained on, its last contexts)')
    .option('--layer <n>', 'layer for --model (default: the SAE\'s)', intFlag('--layer', 0))
    .addOption(new Option('--site <site>', 'site for --model (default: the SAE\'s)').choices([...SITES]))
    .option('--ctx <n>', 'context length for --model (default: the SAE\'s)', intFlag('--ctx', 2))
    .option('--contexts <n>', 'contexts for the downstream CE evaluation', intFlag('--contexts', 1), 64)
    .option('--tokens <n>', 'tokens to evaluate', intFlag('--tokens', 1), 65536)
    .option('--batch <n>', 'rows per forward pass', intFlag('--batch', 1), 4096)
    .option('--norm-scaling-factor <s>', 'SAELens SAEs with normalize_activations "expected_average_only_in": the norm scaling factor', realFlag('--norm-scaling-factor', 0, Infinity))
    .addOption(new Option('--precision <p>', 'encoder GEMM precision (default: the SAE\'s own, cfg.json "precision", else f32; bf16 needs AVX512_BF16 or AMX)').choices([...PRECISIONS]))
    .option('--json', 'print one JSON object')
    .option('--save', 'also write the result to RUN/eval.json (what saekit frontier reads)')
    .action(async (run: string, o: EvalFlags) => {
      const layers = run.startsWith('hf:') ? [] : layerRuns(run);
      if (layers.length) {
        await evalLayers(run, layers, o);
        return;
      }
      if (o.save && (run.startsWith('hf:') || !hasSaeWeights(run))) throw new Error(`--save writes RUN/eval.json into a saekit run folder; ${run} is not one (saekit import it first)`);
      const sae = await openSae(run, { ...(o.normScalingFactor !== undefined ? { normScale: o.normScalingFactor } : {}) });
      if (o.precision) sae.cfg.precision = o.precision;
      const model = o.model ? { model: o.model, corpus: o.corpus, layer: o.layer, site: o.site, ctx: o.ctx } : undefined;
      const { source, result: res, downstream, siteMismatch } = await evaluateJob(getBackend(), sae, { data: o.data, model, contexts: o.contexts, tokens: o.tokens, batch: o.batch, progress: !o.json });
      const hist = densityHistogram(res.density);
      const warnings = evalWarnings(summary(res), { downstream, siteMismatch });
      const result = { data: source.description, ...summary(res), ...(downstream ? { downstream } : {}), ...(warnings.length ? { warnings } : {}) };
      if (o.save) writeJsonAtomic(join(run, 'eval.json'), result);
      if (o.json) {
        console.log(JSON.stringify({ run, ...result, density_histogram: hist }));
        return;
      }
      console.log(`SAE ${run}: ${sae.cfg.arch}, d=${sae.cfg.d}, n=${sae.cfg.n}, k=${sae.cfg.k}; data ${source.description}`);
      console.log(formatSummary({ ...summary(res), warnings }));
      if (downstream) console.log(formatDownstream(downstream));
      const max = Math.max(...hist.counts, 1);
      console.log('  firing density (log10 frequency: latents)');
      hist.counts.forEach((c, i) => {
        if (c > 0) console.log(`  ${hist.edges[i]!.toFixed(2).padStart(6)} ${String(c).padStart(7)} ${'#'.repeat(Math.ceil((40 * c) / max))}`);
      });
      console.log(`  never fired: ${hist.dead}`);
    });
}

/** A --layers job's folder: each layer's run spliced in alone, then all of them together. */
async function evalLayers(run: string, layers: { layer: number; dir: string }[], o: EvalFlags): Promise<void> {
  if (!o.model) throw new Error(`${run} holds one run per layer (${layers.map((l) => `layer-${l.layer}`).join(', ')}): evaluating them spliced in together needs --model (each run alone: saekit eval ${layers[0]!.dir} ...)`);
  if (o.save || o.precision || o.layer !== undefined || o.site) throw new Error('--save, --precision, --layer and --site are for one run; a folder of layer runs is spliced as each run\'s data says');
  const res = await evaluateLayers(getBackend(), layers, { model: { model: o.model, corpus: o.corpus, ctx: o.ctx }, contexts: o.contexts, tokens: o.tokens, batch: o.batch, progress: !o.json });
  if (o.json) {
    console.log(JSON.stringify({ run, ...res }));
    return;
  }
  console.log(`${run}: ${layers.length} layers spliced into ${o.model}, ${res.together.predictions} next-token predictions (${res.together.contexts} held-out contexts)`);
  console.log('  layer   FVU at site   CE recovered   KL spliced (nats)');
  for (const a of res.alone) console.log(`  ${String(a.layer).padStart(5)}   ${a.downstream.site_fvu.toFixed(4).padStart(11)}   ${(100 * a.downstream.ce_recovered).toFixed(1).padStart(11)}%   ${a.downstream.kl_spliced.toFixed(4).padStart(10)}`);
  console.log('  all layers together:');
  console.log(formatDownstream(res.together).split('\n').slice(1).join('\n'));
  console.log(`    FVU at each site in the spliced model: ${res.together.sites.map((s) => `layer ${s.layer} ${s.fvu.toFixed(4)}`).join(', ')}`);
}

interface EvalFlags {
  data?: string; model?: string; corpus?: string; layer?: number; site?: Site; ctx?: number; contexts: number;
  tokens: number; batch: number; json?: boolean; save?: boolean; normScalingFactor?: number; precision?: Precision;
}

export function formatDownstream(r: DownstreamResult): string {
  return [
    `  downstream over ${r.predictions} next-token predictions (${r.contexts} contexts):`,
    `    CE clean ${r.ce_clean.toFixed(4)}, spliced ${r.ce_spliced.toFixed(4)}, zero-ablated ${r.ce_zero.toFixed(4)} nats`,
    `    CE recovered ${(100 * r.ce_recovered).toFixed(1)}%; KL to clean: spliced ${r.kl_spliced.toFixed(4)}, zero-ablated ${r.kl_zero.toFixed(4)} nats; FVU at the site ${r.site_fvu.toFixed(4)}`,
  ].join('\n');
}
