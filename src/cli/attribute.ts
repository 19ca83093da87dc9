/** `saekit attribute`: the attribution graph of a prompt on a --layers folder of transcoders. */
import { Command } from 'commander';
import { attributePrompt } from '../app/attribute.js';
import { getBackend } from '../compute/backend.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { graphSvg, type GraphJson } from '../viewer/graph.js';
import { intFlag, realFlag } from './flags.js';

export function attributeCommand(): Command {
  return new Command('attribute')
    .description('attribution graph of a prompt on the replacement model (transcoders at every layer, attention and norms frozen, error terms): nodes, exact direct-effect edges, pruning by influence, replacement and completeness scores; JSON in circuit-tracer\'s frontend layout')
    .requiredOption('--model <path>', 'the language model (llama2.c .bin, Hugging Face folder)')
    .requiredOption('--transcoders <dir>', 'the --out of saekit train --layers all --transcode (a transcoder per layer, mlp_in → mlp_out)')
    .requiredOption('--prompt <text>', 'the prompt (BOS is prepended)')
    .option('--target <token>', 'the logit to explain: one token\'s text or id (default: the most probable next token)')
    .option('--top-logits <n>', 'logit nodes: the most probable next tokens', intFlag('--top-logits', 1), 5)
    .option('--keep <f>', 'node threshold: the cumulative influence on the logits the pruned graph\'s nodes keep', realFlag('--keep', 0, 1), 0.8)
    .option('--edge-keep <f>', 'edge threshold: the cumulative edge influence the kept edges carry (1: every edge among the kept nodes)', realFlag('--edge-keep', 0, 1), 0.98)
    .option('--ablate <node>', 'also zero this feature (node id LAYER_LATENT_POS) in the replacement model and compare the target logit\'s change with the graph\'s prediction')
    .option('--steer <node=value>', 'as --ablate, but set the feature\'s activation to value (e.g. twice its own)')
    .requiredOption('--out <file>', 'graph JSON to write')
    .option('--svg <file>', 'also draw the pruned graph (positions on x, layers on y, the strongest edges)')
    .action(async (o: { model: string; transcoders: string; prompt: string; target?: string; topLogits: number; keep: number; edgeKeep: number; ablate?: string; steer?: string; out: string; svg?: string }) => {
      if (o.ablate && o.steer) throw new Error('--ablate and --steer: one intervention at a time');
      const steer = o.steer ? /^(\d+_\d+_\d+)=(-?[\d.]+(?:e-?\d+)?)$/.exec(o.steer) : null;
      if (o.steer && !steer) throw new Error(`--steer ${o.steer}: expected NODE=VALUE, e.g. 2_60_22=3.5`);
      const intervene = o.ablate ? { node: o.ablate, value: 0 } : steer ? { node: steer[1]!, value: Number(steer[2]) } : undefined;
      const r = await attributePrompt(getBackend(), { model: o.model, transcoders: o.transcoders, prompt: o.prompt, topLogits: o.topLogits, keep: o.keep, edgeKeep: o.edgeKeep,
        ...(o.target !== undefined ? { target: o.target } : {}), ...(intervene ? { intervene } : {}) });
      writeJsonAtomic(o.out, r.json);
      if (o.svg) writeFileAtomic(o.svg, [graphSvg(r.json as unknown as GraphJson)]);
      const meta = r.json.metadata as { replacement_score: number; completeness_score: number };
      console.log(`saekit: graph of ${r.full.nodes} nodes and ${r.full.edges} edges, pruned to ${r.graph.nodes.length} nodes and ${r.graph.edges.length} edges (influence ${o.keep}, edges ${o.edgeKeep}); target ${r.target.id} (p = ${r.target.prob!.toFixed(3)})`);
      console.log(`  replacement score ${meta.replacement_score.toFixed(3)}, completeness ${meta.completeness_score.toFixed(3)}`);
      const top = r.graph.nodes.filter((n) => n.kind === 'feature').sort((a, b) => b.influence - a.influence).slice(0, 8);
      console.log(`  most influential features: ${top.map((n) => `${n.id} (${n.influence.toFixed(3)})`).join(', ')}`);
      const sign = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(4)}`;
      if (r.ablation) console.log(`  ${r.ablation.node} set from ${r.ablation.from.toFixed(4)} to ${r.ablation.to}: target logit ${sign(r.ablation.measured)} in the replacement model; the graph's direct edge predicts ${sign(r.ablation.predicted)}, its paths ${sign(r.ablation.throughGraph)}`);
      console.log(`saekit: wrote ${o.out}${o.svg ? ` and ${o.svg}` : ''}`);
    });
}
