// Transformer kernels. Causal softmax attention over a KV cache, one task per (sequence, kv head): the task
// transposes its keys once, so scores and the weighted sum of values are contiguous
// multiply-adds the compiler vectorizes, and exp is a branch-free polynomial that does too;
// the MLP activations (GELU, SwiGLU, GeGLU) use the same exp. Gemma-2's attention options:
// scores soft-capped as c·tanh(s/c), and a sliding window (query at position p sees keys
// p − window + 1 .. p).
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace {

// e^x for |x| <= 87 (clamped outside): 2^n · p(r) with r = x − n·ln2 in [−ln2/2, ln2/2],
// p of degree 6 (relative error ~2e-7, about float rounding). Branch-free, so loops vectorize.
inline float expClamped(float x) {
  x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace

namespace saekit {

void attention(const float* q, const float* k, const float* v, float* out, int64_t batch, int64_t T, int64_t pos0,
               int64_t cap, int64_t nHeads, int64_t nKv, int64_t hd, float scale, float softcap, int64_t window) {
  const int64_t Lk = pos0 + T, qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
#pragma omp parallel
  {
    std::vector<float> kt(hd * Lk), s(Lk), o(hd);
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t b = 0; b < batch; b++) {
      for (int64_t g = 0; g < nKv; g++) {
        const float* K = k + b * cap * kvDim + g * hd;
        const float* V = v + b * cap * kvDim + g * hd;
        for (int64_t j = 0; j < Lk; j++)
          for (int64_t c = 0; c < hd; c++) kt[c * Lk + j] = K[j * kvDim + c];
        for (int64_t h = g * group; h < (g + 1) * group; h++) {
          for (int64_t t = 0; t < T; t++) {
            const float* qr = q + (b * T + t) * qDim + h * hd;
            const int64_t vis = pos0 + t + 1;
            // keys j0 .. vis−1 are visible (all of them without a window)
            const int64_t j0 = window > 0 && vis > window ? vis - window : 0;
            float* sp = s.data();
            for (int64_t j = j0; j < vis; j++) sp[j] = 0;
            for (int64_t c = 0; c < hd; c++) {
              const float qc = qr[c] * scale;
              const float* kr = kt.data() + c * Lk;
#pragma omp simd
              for (int64_t j = j0; j < vis; j++) sp[j] += qc * kr[j];
            }
            if (softcap > 0)
              for (int64_t j = j0; j < vis; j++) sp[j] = softcap * std::tanh(sp[j] / softcap);
            float mx = sp[j0];
            for (int64_t j = j0 + 1; j < vis; j++) mx = sp[j] > mx ? sp[j] : mx;
            float sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = j0; j < vis; j++) {
              sp[j] = expClamped(sp[j] - mx);
              sum += sp[j];
            }
            float* op = o.data();
            for (int64_t c = 0; c < hd; c++) op[c] = 0;
            for (int64_t j = j0; j < vis; j++) {
              const float p = sp[j];
              const float* vr = V + j * kvDim;
#pragma omp simd
              for (int64_t c = 0; c < hd; c++) op[c] += p * vr[c];
            }
            float* dst = out + (b * T + t) * qDim + h * hd;
            const float inv = 1.0f / sum;
            for (int64_t c = 0; c < hd; c++) dst[c] = op[c] * inv;
          }
        }
      }
    }
  }
}

void activate(float* x, const float* u, int64_t n, int32_t kind) {
  // kind 0: GELU, tanh form: x·sigmoid(2·√(2/π)·(x + 0.044715x³)) = 0.5x(1 + tanh(…))
  // kind 1: SiLU times the up projection: x·sigmoid(x)·u (SwiGLU)
  // kind 2: GELU, exact: 0.5x(1 + erf(x/√2)) (GPT-NeoX)
  // kind 3: tanh-form GELU times the up projection (GeGLU, Gemma-2)
  if (kind == 2) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float a = x[i];
    const float z = kind == 1 ? a : 1.5957691216057308f * (a + 0.044715f * a * a * a);
    const float y = a / (1.0f + expClamped(-z));
    x[i] = kind == 0 ? y : y * u[i];
  }
}

}  // namespace saekit
