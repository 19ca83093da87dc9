// Run by test/mpi.test.ts under mpirun: every rank draws the same random SAE and batch, selects
// each row's top k (and the AuxK top k among a few dead latents) once over all latents as one
// process does and once through the latent split, and writes both selections to OUT.rank-R.json.
// Rows 3 and 700 of W_enc (and their biases) are equal, so latents on both sides of the split
// tie in every row: the lower index must win on every rank.
import { writeFileSync } from 'node:fs';
import { getBackend } from '../../src/compute/backend.js';
import { mpiComm, rankRange } from '../../src/compute/comm.js';
import { encodeTopK, TopKWorkspace } from '../../src/sae/ksparse.js';
import { sliceLatents } from '../../src/sae/shard.js';
import { Rng } from '../../src/util/rng.js';

const out = process.argv[2]!;
const be = getBackend();
const comm = mpiComm();
const d = 48, n = 1001, B = 257, k = 24;
const rng = new Rng(7);
const draw = (len: number, s: number) => Float32Array.from({ length: len }, () => s * rng.normal());
const p = { W_enc: draw(n * d, 0.2), b_enc: draw(n, 0.1), W_dec: draw(n * d, 0.2), b_dec: draw(d, 0.1) };
p.W_enc.copyWithin(700 * d, 3 * d, 4 * d);
p.b_enc[700] = p.b_enc[3]!;
const x = draw(B * d, 1);
const dead = new Uint8Array(n);
for (const i of [5, 40, 499, 500, 501, 999]) dead[i] = 1;

const opts = { k, multiTopK: false, kAux: 8, auxAlpha: 0 };
const whole = new TopKWorkspace(B, n, d, opts);
encodeTopK(be, p, x, B, whole, k, { dead });

const { lo, hi } = rankRange(n, comm.rank, comm.size);
const shard = { comm, lo, count: hi - lo, total: n };
const mine = sliceLatents(p, n, lo, hi);
const ws = new TopKWorkspace(B, hi - lo, d, { ...opts, shard });
encodeTopK(be, mine, x, B, ws, k, { shard, dead: dead.subarray(lo, hi) });

writeFileSync(`${out}.rank-${comm.rank}.json`, JSON.stringify({
  lo, hi,
  whole: { idx: [...whole.topIdx], vals: [...whole.topVals], auxIdx: [...whole.auxIdx], auxVals: [...whole.auxVals] },
  split: { idx: [...ws.topIdx], vals: [...ws.topVals], auxIdx: [...ws.auxIdx], auxVals: [...ws.auxVals] },
}));
