// Opposing-direction search: each unit row's minimum cosine to any other row, by blocked
// Gram products over the upper half (block i <= block j) and never the full n x n matrix.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels.h"

namespace saekit {
namespace {
// (val, idx) ordering: smaller cosine wins, ties go to the smaller index.
inline void offer(float v, int32_t j, float& bestV, int32_t& bestI) {
  if (v < bestV || (v == bestV && j < bestI)) {
    bestV = v;
    bestI = j;
  }
}
}  // namespace

void minCosine(const float* W, int64_t n, int64_t d, int64_t block, float* outVal, int32_t* outIdx) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i++) {
    outVal[i] = inf;
    outIdx[i] = -1;
  }
  if (n < 2) return;
  const int64_t bs = std::max<int64_t>(1, std::min(block, n));
  std::vector<float> C((size_t)bs * bs);
  const int nt = omp_get_max_threads();
  std::vector<float> colV((size_t)nt * bs);
  std::vector<int32_t> colI((size_t)nt * bs);
  for (int64_t i0 = 0; i0 < n; i0 += bs) {
    const int64_t bi = std::min(bs, n - i0);
    for (int64_t j0 = i0; j0 < n; j0 += bs) {
      const int64_t bj = std::min(bs, n - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bi, (int)bj, (int)d, 1.0f, W + i0 * d,
                  (int)d, W + j0 * d, (int)d, 0.0f, C.data(), (int)bj);
      const bool diag = i0 == j0;
      std::fill(colV.begin(), colV.end(), inf);
      std::fill(colI.begin(), colI.end(), -1);
#pragma omp parallel
      {
        const int t = omp_get_thread_num();
        float* cv = colV.data() + (size_t)t * bs;
        int32_t* ci = colI.data() + (size_t)t * bs;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < bi; r++) {
          const float* c = C.data() + r * bj;
          const int32_t gi = (int32_t)(i0 + r);
          const int64_t q0 = diag ? r + 1 : 0;
          // row minimum: a vectorizable reduction, then the first column attaining it
          float m = inf;
          for (int64_t q = q0; q < bj; q++) m = c[q] < m ? c[q] : m;  // NaN never wins
          if (m < inf) {
            int64_t q = q0;
            while (c[q] != m) q++;
            offer(m, (int32_t)(j0 + q), outVal[gi], outIdx[gi]);
          }
          // column minima: rows ascend within a thread, so a strict < keeps the smallest row
          for (int64_t q = q0; q < bj; q++) {
            const bool lt = c[q] < cv[q];
            cv[q] = lt ? c[q] : cv[q];
            ci[q] = lt ? gi : ci[q];
          }
        }
      }
      // Column minima go to rows of block j; on the diagonal block those rows are the same
      // rows just updated, which is fine: offer() is order-independent.
      for (int64_t q = 0; q < bj; q++) {
        const int32_t gj = (int32_t)(j0 + q);
        for (int t = 0; t < nt; t++) offer(colV[(size_t)t * bs + q], colI[(size_t)t * bs + q], outVal[gj], outIdx[gj]);
      }
    }
  }
}

}  // namespace saekit
