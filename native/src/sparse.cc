// Sparse kernels of the SAE forward and backward: decode, transposed accumulate, gather-dot.
#include <omp.h>

#include <vector>

#include "kernels.h"

namespace saekit {

void sparseDecode(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                  const float* W, int64_t d, const float* bias, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    float* o = out + b * d;
    if (bias) {
      for (int64_t c = 0; c < d; c++) o[c] = bias[c];
    } else {
      for (int64_t c = 0; c < d; c++) o[c] = 0.0f;
    }
    for (int32_t p = rowPtr[b]; p < rowPtr[b + 1]; p++) {
      if (idx[p] < 0) continue;
      const float* w = W + (int64_t)idx[p] * d;
      const float a = vals[p];
      for (int64_t c = 0; c < d; c++) o[c] += a * w[c];
    }
  }
}

void sparseAccumulate(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                      const float* M, int64_t d, int64_t n, float* G) {
  // Transpose the CSR into per-latent lists (counting sort keeps batch order), then give each
  // latent to one thread: no atomics, the same bits for the same thread count.
  const int64_t nnz = rows > 0 ? rowPtr[rows] : 0;
  std::vector<int32_t> colPtr(n + 1, 0);
  for (int64_t p = 0; p < nnz; p++)
    if (idx[p] >= 0) colPtr[idx[p] + 1]++;
  for (int64_t i = 0; i < n; i++) colPtr[i + 1] += colPtr[i];
  std::vector<int32_t> fill(colPtr.begin(), colPtr.end() - 1);
  std::vector<int32_t> srcRow(colPtr[n]);
  std::vector<float> srcVal(colPtr[n]);
  for (int64_t b = 0; b < rows; b++) {
    for (int32_t p = rowPtr[b]; p < rowPtr[b + 1]; p++) {
      int32_t i = idx[p];
      if (i < 0) continue;
      int32_t q = fill[i]++;
      srcRow[q] = (int32_t)b;
      srcVal[q] = vals[p];
    }
  }
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; i++) {
    if (colPtr[i] == colPtr[i + 1]) continue;
    float* g = G + i * d;
    for (int32_t q = colPtr[i]; q < colPtr[i + 1]; q++) {
      const float* m = M + (int64_t)srcRow[q] * d;
      const float a = srcVal[q];
      for (int64_t c = 0; c < d; c++) g[c] += a * m[c];
    }
  }
}

void sparseDot(const int32_t* rowPtr, const int32_t* idx, int64_t rows, const float* M,
               const float* W, int64_t d, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    const float* m = M + b * d;
    for (int32_t p = rowPtr[b]; p < rowPtr[b + 1]; p++) {
      if (idx[p] < 0) {
        out[p] = 0.0f;
        continue;
      }
      const float* w = W + (int64_t)idx[p] * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < d; c++) s += m[c] * w[c];
      out[p] = s;
    }
  }
}

}  // namespace saekit
