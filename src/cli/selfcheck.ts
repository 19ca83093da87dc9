/**
 * `saekit selfcheck`: runs every kernel once on the active backend, checks a few against
 * the reference, and prints the backend, the BLAS core and the GEMM speed.
 */
import { Command } from 'commander';
import { fixedK, getBackend, nativeBackend, referenceBackend as ref } from '../compute/backend.js';
import { Rng } from '../util/rng.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function selfcheckCommand(): Command {
  return new Command('selfcheck')
    .description('run every compute kernel once, compare with the reference, print backend and GFLOP/s')
    .action(() => {
      const be = getBackend();
      const native = nativeBackend();
      const rng = new Rng(7);
      console.log(`backend: ${be.name}`);
      if ('addon' in native && be.name === 'native') {
        const info = native.addon.info();
        console.log(`blas: ${info.blasConfig} (core ${info.blasCore}), threads: ${info.threads}`);
        console.log(`bf16 GEMM (--precision bf16): ${info.bf16}${info.bf16Fast ? '' : ' — bf16 falls back to f32'}`);
        console.log(`Open MPI (--parallel data, sweeps under mpirun): ${info.mpi ? 'built in' : 'not built in (apt-get install libopenmpi-dev openmpi-bin, then npm run build:native)'}`);
      }
      const checks: [string, number][] = [];
      // small problems, checked against the float64 reference
      const m = 33, n = 70, d = 24, k = 5;
      const x = rng.normals(m * d), w = rng.normals(n * d), pre = new Float32Array(m * n), preRef = new Float32Array(m * n);
      be.gemm({ a: x, b: w, c: pre, m, n, k: d, transB: true });
      ref.gemm({ a: x, b: w, c: preRef, m, n, k: d, transB: true });
      checks.push(['sgemm', maxAbsDiff(pre, preRef)]);
      const xb = be.toBf16(x), wb = be.toBf16(w), preB = new Float32Array(m * n), preBRef = new Float32Array(m * n);
      be.gemmBf16({ a: xb, b: wb, c: preB, m, n, k: d });
      ref.gemmBf16({ a: xb, b: wb, c: preBRef, m, n, k: d });
      checks.push(['bf16 gemm', maxAbsDiff(preB, preBRef)]);
      const top = be.topk(pre, m, n, k), topRef = ref.topk(pre, m, n, k);
      checks.push(['topk', maxAbsDiff(top.idx, topRef.idx)]);
      const mask = new Uint8Array(n).map((_, j) => j % 3);
      checks.push(['topk masked', maxAbsDiff(be.topk(pre, m, n, k, { mask }).idx, ref.topk(pre, m, n, k, { mask }).idx)]);
      // integer inputs: the fused encode's sums are exact whatever their order
      const xi = Float32Array.from(x, (v) => Math.round(2 * v)), wi = Float32Array.from(w, (v) => Math.round(2 * v));
      checks.push(['encode topk', maxAbsDiff(be.encodeTopk({ a: xi, w: wi, m, n, d, k }).idx, ref.encodeTopk({ a: xi, w: wi, m, n, d, k }).idx)]);
      checks.push(['topk batch', maxAbsDiff(be.topkBatch(pre, m, n, m * k).idx, ref.topkBatch(pre, m, n, m * k).idx)]);
      const theta = new Float32Array(n).fill(1);
      checks.push(['threshold', maxAbsDiff(be.threshold(pre, m, n, theta).idx, ref.threshold(pre, m, n, theta).idx)]);
      const z = fixedK(top.vals, top.idx, m, k);
      checks.push(['sparse decode', maxAbsDiff(be.sparseDecode(z, w, d, null), ref.sparseDecode(z, w, d, null))]);
      const g1 = new Float32Array(n * d), g2 = new Float32Array(n * d);
      be.sparseAccumulate(z, x, d, g1);
      ref.sparseAccumulate(z, x, d, g2);
      checks.push(['sparse accumulate', maxAbsDiff(g1, g2)]);
      checks.push(['sparse dot', maxAbsDiff(be.sparseDot(z, x, w, d), ref.sparseDot(z, x, w, d))]);
      const p1 = rng.normals(n), p2 = Float32Array.from(p1), gr = rng.normals(n);
      const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, step: 1 };
      be.adam(p1, gr, new Float32Array(n), new Float32Array(n), h);
      ref.adam(p2, gr, new Float32Array(n), new Float32Array(n), h);
      checks.push(['adam', maxAbsDiff(p1, p2)]);
      checks.push(['row norms', maxAbsDiff(be.rowNorms(w, n, d), ref.rowNorms(w, n, d))]);
      const wn = Float32Array.from(w), wr = Float32Array.from(w);
      be.normalizeRows(wn, n, d);
      ref.normalizeRows(wr, n, d);
      checks.push(['normalize rows', maxAbsDiff(wn, wr)]);
      const gp1 = rng.normals(n * d), gp2 = Float32Array.from(gp1);
      be.projectRowGrad(wn, gp1, n, d);
      ref.projectRowGrad(wn, gp2, n, d);
      checks.push(['project row grad', maxAbsDiff(gp1, gp2)]);
      checks.push(['min cosine', maxAbsDiff(be.minCosine(wn, n, d, 16).vals, ref.minCosine(wn, n, d, 16).vals)]);
      let ok = true;
      for (const [name, diff] of checks) {
        const pass = diff < 1e-3;
        ok &&= pass;
        console.log(`  ${pass ? 'ok  ' : 'FAIL'} ${name.padEnd(18)} max |native - reference| = ${diff.toExponential(2)}`);
      }
      // speed: one encoder-shaped GEMM
      const [B, N, D] = be.name === 'native' ? [1024, 4096, 768] : [64, 256, 128];
      const a = rng.normals(B * D), bw = rng.normals(N * D), c = new Float32Array(B * N);
      be.gemm({ a, b: bw, c, m: B, n: N, k: D, transB: true });
      const t0 = performance.now();
      const reps = 3;
      for (let r = 0; r < reps; r++) be.gemm({ a, b: bw, c, m: B, n: N, k: D, transB: true });
      const sec = (performance.now() - t0) / 1000 / reps;
      console.log(`gemm ${B}x${D} · ${D}x${N}: ${(2 * B * N * D / sec / 1e9).toFixed(1)} GFLOP/s on ${be.name}`);
      if (be.bf16.fast) {
        const ab = be.toBf16(a), bb = be.toBf16(bw);
        be.gemmBf16({ a: ab, b: bb, c, m: B, n: N, k: D });
        const t1 = performance.now();
        for (let r = 0; r < reps; r++) be.gemmBf16({ a: ab, b: bb, c, m: B, n: N, k: D });
        const secB = (performance.now() - t1) / 1000 / reps;
        console.log(`bf16 gemm, same shape: ${(2 * B * N * D / secB / 1e9).toFixed(1)} GFLOP/s (${(sec / secB).toFixed(2)}x f32)`);
      }
      console.log(ok ? 'selfcheck: all kernels ok' : 'selfcheck: FAILED');
      if (!ok) process.exitCode = 1;
    });
}
