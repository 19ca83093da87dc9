/**
 * Encoder-init ablation (Gao et al. §2.4 / docs/design.md §4.1): encoder = decoder transpose vs an
 * independent random encoder, on synthetic data with known features. Same data, seed and
 * tokens, with and without AuxK; reports dead latents over training, final FVU, L0, dead
 * fraction and MMCS. (A latent counts as dead after 500k tokens without firing.)
 *
 *   npx tsx examples/init-ablation.ts [--tokens 4M] [--out runs/init-ablation]
 *
 * Token arithmetic: 4M tokens / 4096 per batch = 977 steps; d=128, 2048 true features,
 * 16 active per row, 4096 latents, k=16.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend } from '../src/compute/backend.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { evaluateSae } from '../src/eval/metrics.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const tokens = Number(arg('--tokens', '4000000'));
const out = arg('--out', 'runs/init-ablation');
const data = { d: 128, features: 2048, active: 16 };
const spec = `synthetic:d=${data.d},features=${data.features},active=${data.active}`;
const be = getBackend();

console.log(`| encoder init | AuxK | FVU | L0 | dead (never fired in 65k held-out tokens) | max dead fraction during training | MMCS |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const [encoderInit, kAux] of [['transpose', 64], ['random', 64], ['transpose', 0], ['random', 0]] as const) {
  const dir = join(out, `${encoderInit}-kaux${kAux}`);
  const cfg = parseTrainConfig({ data: spec, latents: 4096, k: 16, tokens, batch: 4096, encoderInit, kAux, deadTokens: 500_000 });
  const res = await train(be, cfg, { out: dir, resume: true });
  const ev = evaluateSae(be, res.sae, new SyntheticSource({ ...data, stream: 1 }, be), 65536);
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { dead_fraction: number });
  const maxDead = Math.max(...lines.map((l) => l.dead_fraction));
  console.log(`| ${encoderInit} | ${kAux ? `k_aux=${kAux}` : 'off'} | ${ev.fvu.toFixed(4)} | ${ev.l0.toFixed(1)} | ${(100 * ev.never_fired_fraction).toFixed(2)}% | ${(100 * maxDead).toFixed(2)}% | ${ev.mmcs!.toFixed(4)} |`);
}
