// saekit native kernels: plain functions over caller-owned buffers. No policy, no
// allocation of model state, no I/O. Every function has a twin in src/compute/reference.ts.
// Sparse matrices are CSR: row b owns entries rowPtr[b] .. rowPtr[b+1]-1 of idx/vals;
// an entry with idx < 0 is empty and skipped by every consumer.
#pragma once
#include <cstdint>
#include <string>

namespace saekit {

// Row-wise top-k of x [rows, cols] + bias [cols] (bias may be null), restricted to columns with
// mask[j] != 0 when mask is given: outVals/outIdx [rows, k], best first, padded with idx -1.
// Order: larger value first, NaN ranks as -inf, ties broken by the smaller column index.
void topkRows(const float* x, int64_t rows, int64_t cols, int64_t k, const uint8_t* mask,
              const float* bias, float* outVals, int32_t* outIdx);

// Top kTotal entries of the whole matrix x [rows, cols] (BatchTopK), same order rules.
// Writes CSR rowPtr [rows+1], idx/vals [min(kTotal, rows*cols)] in row-major order.
int64_t topkBatch(const float* x, int64_t rows, int64_t cols, int64_t kTotal,
                  int32_t* rowPtr, int32_t* outIdx, float* outVals);

// Entries with x[b,j] > theta[j] (JumpReLU). Two phases: counts per row, then gather.
void thresholdCount(const float* x, int64_t rows, int64_t cols, const float* theta, int32_t* counts);
void thresholdGather(const float* x, int64_t rows, int64_t cols, const float* theta,
                     const int32_t* rowPtr, int32_t* outIdx, float* outVals);

// out[b,:] = bias + sum_p vals[p] * W[idx[p], :]   (bias may be null)
void sparseDecode(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                  const float* W, int64_t d, const float* bias, float* out);

// G[i,:] (+)= sum over entries (b, p) with idx[p] == i of vals[p] * M[b,:]; G is [n, d].
// overwrite: G's old contents are ignored (rows without entries become 0), as with beta = 0.
void sparseAccumulate(const int32_t* rowPtr, const int32_t* idx, const float* vals, int64_t rows,
                      const float* M, int64_t d, int64_t n, float* G, bool overwrite);

// out[p] = dot(M[b,:], W[idx[p],:]) for each entry p of row b (0 where idx < 0).
void sparseDot(const int32_t* rowPtr, const int32_t* idx, int64_t rows, const float* M,
               const float* W, int64_t d, float* out);

// Adam with PyTorch's bias correction; step counts from 1.
void adam(float* p, const float* g, float* m, float* v, int64_t len, double lr, double beta1,
          double beta2, double eps, int64_t step);

// The decoder's constrained step, fused per row: project G_i off W_i, Adam on W_i with the
// projected gradient, then rescale W_i to unit norm (G holds the projected gradient after).
void adamUnitRows(float* W, float* G, float* m, float* v, int64_t n, int64_t d, double lr, double beta1,
                  double beta2, double eps, int64_t step);

void rowNorms(const float* W, int64_t n, int64_t d, float* out);
void normalizeRows(float* W, int64_t n, int64_t d);
void projectRowGrad(const float* W, float* G, int64_t n, int64_t d);

// For unit rows W [n, d]: each row's minimum cosine to any other row and that row's index.
// Blocked Gram (block x block, upper half only); never materializes n x n.
void minCosine(const float* W, int64_t n, int64_t d, int64_t block, float* outVal, int32_t* outIdx);
void attention(const float* q, const float* k, const float* v, float* out, int64_t batch, int64_t T, int64_t pos0,
               int64_t cap, int64_t nHeads, int64_t nKv, int64_t hd, float scale, float softcap, int64_t window);
void activate(float* x, const float* u, int64_t n, int32_t kind);

// float32 -> bfloat16 bits, rounded to nearest even (NaN stays NaN).
void toBf16(const float* src, uint16_t* dst, int64_t len);
// C [m, n] = A [m, k] · B [n, k]ᵀ (+ bias [n] on every row; bias may be null), A and B bf16,
// products accumulated in f32 (oneDNN when built with it and native here, else widened OpenBLAS).
void gemmBf16(const uint16_t* a, const uint16_t* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k);
// bfloat16 bits -> float32 (exact).
void fromBf16(const uint16_t* src, float* dst, int64_t len);
// Whether a native bf16 GEMM (oneDNN on AVX512_BF16 or AMX) is built and runs here.
bool bf16Native();
// One tile C [mb, nb] = A [mb, k]·B [nb, k]ᵀ of bf16 bits, f32 accumulation, run on the calling
// thread alone, for a caller that parallelizes over tiles itself. Only where bf16Native().
void gemmBf16Tile(const uint16_t* a, const uint16_t* b, float* c, int64_t mb, int64_t nb, int64_t k);
// The row top-k of pre = A·Wᵀ + bias (A [m, d], W [n, d], both f32 or, with bf16, both bf16 bits;
// bias [n] may be null) without storing pre: outVals/outIdx [m, k] as topkRows gives them for
// pre; with auxMask, also each row's top kAux among columns where auxMask[j] != 0.
void encodeTopk(const void* a, const void* w, bool bf16, const float* bias, int64_t m, int64_t n, int64_t d, int64_t k,
                float* outVals, int32_t* outIdx, const uint8_t* auxMask, int64_t kAux, float* auxVals, int32_t* auxIdx);
// Which bf16 GEMM runs here; *fast says whether it is native bf16 (else the widened f32 one).
std::string bf16Info(bool* fast);

}  // namespace saekit
