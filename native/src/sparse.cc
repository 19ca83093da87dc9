// Sparse kernels of the SAE forward and backward: decode, transposed accumulate, gather-dot.
// The inner loops keep a 64-float slice of the output row in eight SIMD registers while all
// of that row's entries stream through it (GCC vector extensions: SIMD on any x86 target).
#include <omp.h>

#include <cstring>
#include <vector>

#include "kernels.h"

namespace saekit {
namespace {

typedef float v8f __attribute__((vector_size(32)));
inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, 32);
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, 32); }

constexpr int64_t TILE = 64;

// out[0..d) (+)= Σ_q coef[q] · src[q][0..d), with out held in registers one tile at a time.
// init: out's starting value per element (nullptr = 0, or out itself to accumulate).
inline void axpyRows(float* out, const float* init, int64_t d, int64_t count, const float* const* src, const float* coef) {
  int64_t c0 = 0;
  for (; c0 + TILE <= d; c0 += TILE) {
    v8f acc[8];
    for (int j = 0; j < 8; j++) acc[j] = init ? load8(init + c0 + 8 * j) : v8f{};
    for (int64_t q = 0; q < count; q++) {
      const float* s = src[q] + c0;
      const float a = coef[q];
      const v8f av = {a, a, a, a, a, a, a, a};
      for (int j = 0; j < 8; j++) acc[j] += av * load8(s + 8 * j);
    }
    for (int j = 0; j < 8; j++) store8(out + c0 + 8 * j, acc[j]);
  }
  for (int64_t c = c0; c < d; c++) {
    float acc = init ? init[c] : 0.0f;
    for (int64_t q = 0; q < count; q++) acc += coef[q] * src[q][c];
    out[c] = acc;
  }
}

}  // namespace

void sparseDecode(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                  const float* W, int64_t d, const float* bias, float* out) {
#pragma omp parallel
  {
    std::vector<const float*> src;
    std::vector<float> coef;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < rows; b++) {
      src.clear();
      coef.clear();
      for (int32_t p = rowPtr[b]; p < rowPtr[b + 1]; p++) {
        if (idx[p] < 0) continue;
        src.push_back(W + (int64_t)idx[p] * d);
        coef.push_back(vals[p]);
      }
      axpyRows(out + b * d, bias, d, (int64_t)src.size(), src.data(), coef.data());
    }
  }
}

void sparseAccumulate(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                      const float* M, int64_t d, int64_t n, float* G, bool overwrite) {
  // Transpose the CSR into per-latent lists (counting sort keeps batch order), then give each
  // latent to one thread: no atomics, the same bits for the same thread count.
  const int64_t nnz = rows > 0 ? rowPtr[rows] : 0;
  std::vector<int32_t> colPtr(n + 1, 0);
  for (int64_t p = 0; p < nnz; p++)
    if (idx[p] >= 0) colPtr[idx[p] + 1]++;
  for (int64_t i = 0; i < n; i++) colPtr[i + 1] += colPtr[i];
  std::vector<int32_t> fill(colPtr.begin(), colPtr.end() - 1);
  std::vector<const float*> src(colPtr[n]);
  std::vector<float> coef(colPtr[n]);
  for (int64_t b = 0; b < rows; b++) {
    for (int32_t p = rowPtr[b]; p < rowPtr[b + 1]; p++) {
      int32_t i = idx[p];
      if (i < 0) continue;
      int32_t q = fill[i]++;
      src[q] = M + b * d;
      coef[q] = vals[p];
    }
  }
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; i++) {
    const int32_t q0 = colPtr[i], q1 = colPtr[i + 1];
    float* g = G + i * d;
    if (q0 == q1) {
      if (overwrite) std::memset(g, 0, sizeof(float) * d);
      continue;
    }
    axpyRows(g, overwrite ? nullptr : g, d, q1 - q0, src.data() + q0, coef.data() + q0);
  }
}

void sparseDot(const int32_t* rowPtr, const int32_t* idx, int64_t rows, const float* M,
               const float* W, int64_t d, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    const float* m = M + b * d;
    int32_t p = rowPtr[b];
    const int32_t end = rowPtr[b + 1];
    // four entries at a time share each load of M's row
    for (; p + 4 <= end; p += 4) {
      const float* w[4];
      for (int j = 0; j < 4; j++) w[j] = idx[p + j] >= 0 ? W + (int64_t)idx[p + j] * d : nullptr;
      if (!w[0] || !w[1] || !w[2] || !w[3]) break;  // rare padding: finish one by one
      v8f acc[4] = {};
      int64_t c = 0;
      for (; c + 8 <= d; c += 8) {
        const v8f mv = load8(m + c);
        for (int j = 0; j < 4; j++) acc[j] += mv * load8(w[j] + c);
      }
      for (int j = 0; j < 4; j++) {
        float s = 0.0f;
        for (int l = 0; l < 8; l++) s += acc[j][l];
        for (int64_t t = c; t < d; t++) s += m[t] * w[j][t];
        out[p + j] = s;
      }
    }
    for (; p < end; p++) {
      if (idx[p] < 0) {
        out[p] = 0.0f;
        continue;
      }
      const float* w = W + (int64_t)idx[p] * d;
      float s = 0.0f;
      for (int64_t c = 0; c < d; c++) s += m[c] * w[c];
      out[p] = s;
    }
  }
}

}  // namespace saekit
