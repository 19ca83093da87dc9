/**
 * `npm run bench`: compute-kernel benchmarks, printed as ratios measured in one run.
 *   - addon GEMM vs the same cblas_sgemm from a C program built here (bench/gemm.c)
 *   - top-k, sparse kernels and Adam relative to the GEMM / memory bandwidth
 *   - opposing-direction search vs its symmetric-Gram GEMM floor
 *   - the TopK training step, the cross-layer transcoder's step, and the language-model forward used for extraction
 *   - the feature viewer: indexing and serving an SAE with 262,144 latents
 *   - with --peer: the TopK step against PyTorch running sparsify's step (bench/peer-step.ts)
 *   - with --parallel: two ranks under mpirun against one process, and the split on paper (bench/parallel.ts)
 * Flags: --quick (smaller sizes), --full-opposing (n = 262144 latents; minutes), --peer, --parallel.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fixedK, nativeBackend } from '../src/compute/backend.js';
import { packageRoot } from '../src/compute/native.js';
import { Rng } from '../src/util/rng.js';
import { bestOf, fmt } from './timing.js';
import { benchLmForward } from './lm-forward.js';
import { benchViewer } from './viewer.js';
import { benchParallel } from './parallel.js';
import { benchPeer } from './peer-step.js';
import { benchTrainStep } from './train-step.js';
import { benchCltStep } from './clt-step.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const native = nativeBackend();
if (!('backend' in native)) {
  console.error(`bench: the native addon is required (${native.reason}); run npm run build:native`);
  process.exit(1);
}
const be = native.backend;
const info = native.addon.info();
const rng = new Rng(42);
const rows: [string, string, string][] = [];
const report = (what: string, value: string, note = ''): void => {
  rows.push([what, value, note]);
  console.log(`${what.padEnd(48)} ${value.padEnd(14)} ${note}`);
};

console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
console.log(`blas: ${info.blasConfig}; core ${info.blasCore}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}; threads ${info.threads}`);
console.log(`bf16 GEMM: ${info.bf16}`);

// 1. GEMM: addon vs C, encoder shape X [B, d] · W_enc [n, d]^T
const [B, n, d, k] = quick ? [2048, 8192, 768, 32] : [8192, 32768, 768, 32];
const buildDir = join(packageRoot(), 'bench', 'build');
mkdirSync(buildDir, { recursive: true });
const exe = join(buildDir, 'gemm');
execFileSync('cc', ['-O2', '-o', exe, join(packageRoot(), 'bench', 'gemm.c'), '-lopenblas']);
const cSec = Number(execFileSync(exe, [String(B), String(n), String(d), '3']).toString().trim());
const x = rng.normals(B * d), w = rng.normals(n * d, 0.05);
const pre = new Float32Array(B * n);
const gemmSec = bestOf(3, () => be.gemm({ a: x, b: w, c: pre, m: B, n, k: d, transB: true }));
const flops = 2 * B * n * d;
report(`GEMM ${B}x${d} · ${d}x${n} via addon`, `${fmt(flops / gemmSec / 1e9)} GFLOP/s`);
report('GEMM from C (same cblas_sgemm)', `${fmt(flops / cSec / 1e9)} GFLOP/s`);
report('addon GEMM / C GEMM speed', fmt(cSec / gemmSec), 'target >= 0.9');
// the bf16 libraries (oneDNN, libxsmm) at the same shape, as candidates for --precision bf16
if (existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) {
  const xsmm = existsSync('/usr/include/libxsmm.h');
  const libs = join(buildDir, 'bf16_libs');
  execFileSync('c++', ['-O2', '-fopenmp', '-o', libs, join(packageRoot(), 'bench', 'bf16_libs.cc'), ...(xsmm ? ['-DHAVE_XSMM', '-lxsmm', '-lopenblas', '-ldl', '-lpthread'] : []), '-ldnnl']);
  for (const line of execFileSync(libs, [String(B), String(n), String(d), '2']).toString().trim().split('\n')) {
    const [what, value] = line.split(': ');
    report(what!, value ?? '', 'bf16 candidates, not what saekit calls (see bf16 GEMM below)');
  }
}

// 2. top-k of the GEMM's output
const vals = new Float32Array(B * k), idx = new Int32Array(B * k);
const topSec = bestOf(3, () => be.topk(pre, B, n, k, { vals, idx }));
report(`top-k (k=${k}) time / its GEMM time`, fmt(topSec / gemmSec), 'target <= 0.15');
const mask = new Uint8Array(n).map(() => (rng.uniform() < 0.1 ? 1 : 0));
const kAux = d / 2;
const auxV = new Float32Array(B * kAux), auxI = new Int32Array(B * kAux);
const maskSec = bestOf(2, () => be.topk(pre, B, n, kAux, { mask, vals: auxV, idx: auxI }));
report(`masked top-k (k=${kAux}, 10% dead) / GEMM`, fmt(maskSec / gemmSec));
// 3. sparse kernels at the training step's shape
const z = fixedK(vals, idx, B, k);
const recon = new Float32Array(B * d);
const decSec = bestOf(3, () => be.sparseDecode(z, w, d, null, recon));
const g = new Float32Array(n * d);
const accSec = bestOf(3, () => be.sparseAccumulate(z, x, d, g));
const dots = new Float32Array(B * k);
const dotSec = bestOf(3, () => be.sparseDot(z, x, w, d, dots));
const sparseFlops = 2 * B * k * d;
report('sparse decode / GEMM', fmt(decSec / gemmSec), `${fmt(sparseFlops / decSec / 1e9)} GFLOP/s`);
report('sparse accumulate (dW) / GEMM', fmt(accSec / gemmSec), `${fmt(sparseFlops / accSec / 1e9)} GFLOP/s`);
report('sparse dot (dz) / GEMM', fmt(dotSec / gemmSec), `${fmt(sparseFlops / dotSec / 1e9)} GFLOP/s`);

// 4. Adam vs memory bandwidth (n·d parameters: reads p, g, m, v; writes p, m, v)
const len = n * d;
const p = rng.normals(len), m = new Float32Array(len), v = new Float32Array(len);
let step = 0;
const adamSec = bestOf(3, () => be.adam(p, g, m, v, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, step: ++step }));
const src = new Float32Array(len), dst = new Float32Array(len);
const copySec = bestOf(3, () => dst.set(src));
const adamBw = (7 * 4 * len) / adamSec, copyBw = (2 * 4 * len) / copySec;
report('Adam bytes/s / memcpy bytes/s', fmt(adamBw / copyBw), `Adam ${fmt(adamBw / 1e9)} GB/s (2 threads), copy ${fmt(copyBw / 1e9)} GB/s (TypedArray.set, 1 thread)`);
report('Adam / GEMM', fmt(adamSec / gemmSec));

// 5. opposing-direction search vs the symmetric Gram floor (same block GEMMs, no scan)
const on = args.has('--full-opposing') ? 262144 : quick ? 8192 : 32768;
const block = 4096;
const wo = rng.normals(on * d);
be.normalizeRows(wo, on, d);
const cblock = new Float32Array(block * block);
const full = args.has('--full-opposing');
const floorSec = bestOf(1, () => {
  for (let i0 = 0; i0 < on; i0 += block) {
    for (let j0 = i0; j0 < on; j0 += block) {
      const bi = Math.min(block, on - i0), bj = Math.min(block, on - j0);
      be.gemm({ a: wo.subarray(i0 * d, (i0 + bi) * d), b: wo.subarray(j0 * d, (j0 + bj) * d), c: cblock, m: bi, n: bj, k: d, transB: true });
    }
  }
}, !full);
const oppSec = bestOf(1, () => be.minCosine(wo, on, d, block), !full);
report(`opposing search n=${on} d=${d} / Gram floor`, fmt(oppSec / floorSec), `target <= 1.3 (search ${fmt(oppSec)} s, floor ${fmt(floorSec)} s)`);
// the kernel's only allocations: one block x block Gram tile and per-thread column minima
const scratch = (block * block + 2 * info.threads * block) * 4;
report('opposing search memory / decoder', fmt(1 + scratch / (on * d * 4)), 'target <= 2 (decoder + scratch)');


// 6. the TopK training step, f32 and bf16 (and batch top-k against both GEMMs)
const { bf16Gemm } = benchTrainStep(be, { B, n, d, k }, report);
// 6a. the cross-layer transcoder's step against one transcoder per layer
benchCltStep(be, quick, report);
if (args.has('--peer')) benchPeer(be, report);
// 6b. data parallel under mpirun, and the split on paper at 16M latents
if (args.has('--parallel')) benchParallel(report, flops / (bf16Gemm ?? gemmSec), bf16Gemm ? 'bf16' : 'f32');

// 7. language-model forward (activation extraction)
benchLmForward(be, quick, report);

// 8. the feature viewer at 262,144 latents
await benchViewer(be, quick, report);

console.log('\n| measure | value | note |\n|---|---|---|');
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
