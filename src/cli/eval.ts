/** `saekit eval RUN --data PATH [--json]`: evaluate a trained SAE on activations. */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { getBackend } from '../compute/backend.js';
import { LmSpec, openLmSource, parseLmSpec } from '../data/lm.js';
import { openSource } from '../data/open.js';
import { readManifest } from '../data/shards.js';
import type { ActivationSource } from '../data/source.js';
import { downstreamEval, type DownstreamResult } from '../eval/downstream.js';
import { SITES, type Site } from '../lm/transformer.js';
import { parseSyntheticSpec, SyntheticSource } from '../data/synthetic.js';
import { densityHistogram, evaluateSae } from '../eval/metrics.js';
import { formatSummary, summary } from '../eval/report.js';
import { loadSae } from '../sae/common.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { parseNumber } from './flags.js';

/** Where an SAE's training activations came from (layer, site, corpus…), when it says. */
function lmOrigin(data: string): Partial<LmSpec> {
  if (data.startsWith('lm:')) return parseLmSpec(data);
  if (!data || data.startsWith('synthetic') || !existsSync(data)) return {};
  const src = readManifest(data).manifest.source as Record<string, unknown>;
  return {
    corpus: src.corpus as string | undefined, layer: src.layer as number | undefined, site: src.site as LmSpec['site'] | undefined,
    ctx: src.ctx as number | undefined, excludeBos: src.exclude_bos === false ? 0 : 1,
    textField: src.text_field as string | undefined, sep: src.sep as string | undefined,
  };
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a trained SAE: FVU, normalized MSE, L0, dead fraction, density histogram, MMCS on synthetic data; ' +
      'with --model, on the model\'s held-out activations plus downstream CE (clean, spliced, zero-ablated) and KL')
    .argument('<run>', 'run folder (or any saekit SAE folder)')
    .option('--data <path>', 'activations: a shard folder, a .safetensors file, synthetic[:options] or lm:options')
    .option('--model <path>', 'a language model (llama2.c .bin, Hugging Face folder, hf:ORG/NAME): splice the SAE in and measure CE')
    .option('--corpus <path>', 'text for --model (default: the corpus the SAE was trained on, its last contexts)')
    .option('--layer <n>', 'layer for --model (default: the SAE\'s)', (v) => parseNumber('--layer', v))
    .addOption(new Option('--site <site>', 'site for --model (default: the SAE\'s)').choices([...SITES]))
    .option('--ctx <n>', 'context length for --model (default: the SAE\'s)', (v) => parseNumber('--ctx', v))
    .option('--contexts <n>', 'contexts for the downstream CE evaluation', (v) => parseNumber('--contexts', v), 64)
    .option('--tokens <n>', 'tokens to evaluate', (v) => parseNumber('--tokens', v), 65536)
    .option('--batch <n>', 'rows per forward pass', (v) => parseNumber('--batch', v), 4096)
    .option('--json', 'print one JSON object')
    .option('--save', 'also write the result to RUN/eval.json (what saekit frontier reads)')
    .action(async (run: string, o: EvalFlags) => {
      const be = getBackend();
      const sae = loadSae(run);
      let source: ActivationSource;
      let downstream: DownstreamResult | undefined;
      if (o.model) {
        const origin = lmOrigin(sae.cfg.data);
        const got = LmSpec.safeParse({
          ...origin, model: o.model, corpus: o.corpus ?? origin.corpus, layer: o.layer ?? origin.layer, site: o.site ?? origin.site,
          ctx: o.ctx ?? origin.ctx, from: 'end', tokens: undefined, tokenizer: undefined, batch: undefined,
        });
        if (!got.success) {
          const issue = got.error.issues[0]!;
          throw new Error(`--${String(issue.path[0])}: ${issue.message} (the SAE's training data "${sae.cfg.data}" does not say it; pass the flag)`);
        }
        const spec = got.data;
        const lm = await openLmSource({ ...spec, tokens: Math.max(o.tokens, o.contexts * spec.ctx) }, be);
        downstream = downstreamEval(be, sae, lm, o.contexts, !o.json);
        source = await openLmSource({ ...spec, tokens: o.tokens }, be);
      } else {
        if (!o.data) throw new Error('--data is required unless --model is given');
        // synthetic data is evaluated on its held-out stream unless a stream is named
        source = o.data.startsWith('synthetic') && !/stream=/.test(o.data)
          ? new SyntheticSource({ ...parseSyntheticSpec(o.data), stream: 1 }, be)
          : await openSource(o.data, be);
      }
      const res = evaluateSae(be, sae, source, o.tokens, o.batch);
      const hist = densityHistogram(res.density);
      const result = { data: source.description, ...summary(res), ...(downstream ? { downstream } : {}) };
      if (o.save) writeJsonAtomic(join(run, 'eval.json'), result);
      if (o.json) {
        console.log(JSON.stringify({ run, ...result, density_histogram: hist }));
        return;
      }
      console.log(`SAE ${run}: ${sae.cfg.arch}, d=${sae.cfg.d}, n=${sae.cfg.n}, k=${sae.cfg.k}; data ${source.description}`);
      console.log(formatSummary(summary(res)));
      if (downstream) console.log(formatDownstream(downstream));
      const max = Math.max(...hist.counts, 1);
      console.log('  firing density (log10 frequency: latents)');
      hist.counts.forEach((c, i) => {
        if (c > 0) console.log(`  ${hist.edges[i]!.toFixed(2).padStart(6)} ${String(c).padStart(7)} ${'#'.repeat(Math.ceil((40 * c) / max))}`);
      });
      console.log(`  never fired: ${hist.dead}`);
    });
}

interface EvalFlags {
  data?: string; model?: string; corpus?: string; layer?: number; site?: Site; ctx?: number; contexts: number;
  tokens: number; batch: number; json?: boolean; save?: boolean;
}

export function formatDownstream(r: DownstreamResult): string {
  return [
    `  downstream over ${r.predictions} next-token predictions (${r.contexts} contexts):`,
    `    CE clean ${r.ce_clean.toFixed(4)}, spliced ${r.ce_spliced.toFixed(4)}, zero-ablated ${r.ce_zero.toFixed(4)} nats`,
    `    CE recovered ${(100 * r.ce_recovered).toFixed(1)}%; KL to clean: spliced ${r.kl_spliced.toFixed(4)}, zero-ablated ${r.kl_zero.toFixed(4)} nats; FVU at the site ${r.site_fvu.toFixed(4)}`,
  ].join('\n');
}
