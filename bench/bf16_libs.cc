// The bf16 GEMM libraries Debian ships, timed at the encoder's shape (C [M, N] = A [M, K] ·
// B [N, K]ᵀ, bf16 in, f32 out), to choose the one saekit links (BENCHMARKS.md):
//   oneDNN matmul with B used as stored (what saekit runs) and with B reordered to oneDNN's
//   blocked layout (the reorder timed apart); libxsmm (when built with HAVE_XSMM) with 64 x 64
//   tiles of C over OpenMP, A in libxsmm's VNNI layout (the reformat not timed).
// Prints GFLOP/s per line. usage: bf16_libs M N K REPS
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>
#ifdef HAVE_XSMM
#include <libxsmm.h>
#endif

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <typename F>
static double best(int reps, F f) {
  f();
  double b = 1e30;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    f();
    b = std::min(b, now() - t0);
  }
  return b;
}

int main(int argc, char** argv) {
  if (argc != 5) { std::fprintf(stderr, "usage: bf16_libs M N K REPS\n"); return 2; }
  const long m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]);
  const int reps = atoi(argv[4]);
  const double flops = 2.0 * m * n * k;
  std::vector<uint16_t> a(m * k), b(n * k);
  std::vector<float> c(m * n);
  for (long i = 0; i < m * k; i++) a[i] = 0x3f80 + (uint16_t)(i % 64);
  for (long i = 0; i < n * k; i++) b[i] = 0xbf00 + (uint16_t)(i % 64);
  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const memory::desc ad({m, k}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc bd({k, n}, memory::data_type::bf16, memory::format_tag::ba);
  const memory::desc cd({m, n}, memory::data_type::f32, memory::format_tag::ab);
  memory am(ad, eng, a.data()), bm(bd, eng, b.data()), cm(cd, eng, c.data());
  for (const bool blocked : {false, true}) {
    const memory::desc want({k, n}, memory::data_type::bf16, blocked ? memory::format_tag::any : memory::format_tag::ba);
    matmul::primitive_desc pd(matmul::desc(ad, want, cd), eng);
    memory wm = bm;
    double reorder = 0;
    if (pd.weights_desc() != bd) {
      wm = memory(pd.weights_desc(), eng);
      reorder = best(1, [&] { dnnl::reorder(bm, wm).execute(s, bm, wm); s.wait(); });
    }
    matmul mm(pd);
    const double t = best(reps, [&] { mm.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}}); s.wait(); });
    std::printf("oneDNN %s matmul (%s): %.1f GFLOP/s%s\n", blocked ? "blocked-weights" : "as-stored", pd.impl_info_str(), flops / t / 1e9,
                blocked ? (" + reorder " + std::to_string(reorder) + " s per weight update").c_str() : "");
  }
#ifdef HAVE_XSMM
  libxsmm_init();
  const int T = 64;
  const float alpha = 1, beta = 0;
  const int flags = LIBXSMM_GEMM_FLAG_VNNI_A;
  // column-major view: C^T [n, m] = W [n, k] (as A, lda n after a transpose) · X^T [k, m]
  std::vector<uint16_t> wt(n * k);
  const libxsmm_blasint lda = n, ldb = k, ldc = n;
  libxsmm_bsmmfunction f = libxsmm_bsmmdispatch(T, T, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
  if (!f) {
    std::printf("libxsmm: no bf16 kernel for %d x %d x %ld\n", T, T, k);
  } else {
    const double t = best(reps, [&] {
#pragma omp parallel for collapse(2) schedule(static)
      for (long i0 = 0; i0 < m; i0 += T)
        for (long j0 = 0; j0 < n; j0 += T)
          f((const libxsmm_bfloat16*)wt.data() + j0, (const libxsmm_bfloat16*)a.data() + i0 * k, c.data() + i0 * n + j0);
    });
    std::printf("libxsmm %s bsmm 64x64 tiles: %.1f GFLOP/s\n", libxsmm_get_target_arch(), flops / t / 1e9);
  }
#else
  std::printf("libxsmm: not built in (install libxsmm-dev to time it)\n");
#endif
  return 0;
}
