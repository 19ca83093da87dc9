// Elementwise optimizer and decoder-norm kernels.
#include <cmath>

#include "kernels.h"

namespace saekit {
namespace {

// Adam's per-step constants: coefficients in double (1 - 0.999 is inexact in float), used in float.
struct AdamCoef {
  float stepSize, invSqrtBc2, b1, b2, b1c, b2c, eps;
  AdamCoef(double lr, double beta1, double beta2, double eps_, int64_t step) {
    const double bc1 = 1.0 - std::pow(beta1, (double)step);
    const double bc2 = 1.0 - std::pow(beta2, (double)step);
    stepSize = (float)(lr / bc1);
    invSqrtBc2 = (float)(1.0 / std::sqrt(bc2));
    b1 = (float)beta1;
    b2 = (float)beta2;
    b1c = (float)(1.0 - beta1);
    b2c = (float)(1.0 - beta2);
    eps = (float)eps_;
  }
};

}  // namespace

void adam(float* p, const float* g, float* m, float* v, int64_t len, double lr, double beta1,
          double beta2, double eps, int64_t step) {
  const AdamCoef k(lr, beta1, beta2, eps, step);
  const float stepSize = k.stepSize, invSqrtBc2 = k.invSqrtBc2, b1 = k.b1, b2 = k.b2, b1c = k.b1c, b2c = k.b2c, epsf = k.eps;
#pragma omp parallel for simd schedule(static)
  for (int64_t e = 0; e < len; e++) {
    const float ge = g[e];
    const float me = b1 * m[e] + b1c * ge;
    const float ve = b2 * v[e] + b2c * ge * ge;
    m[e] = me;
    v[e] = ve;
    p[e] -= stepSize * me / (std::sqrt(ve) * invSqrtBc2 + epsf);
  }
}

void rowNorms(const float* W, int64_t n, int64_t d, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float* w = W + i * d;
    double s = 0.0;
    for (int64_t c = 0; c < d; c++) s += (double)w[c] * w[c];
    out[i] = (float)std::sqrt(s);
  }
}

void normalizeRows(float* W, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float* w = W + i * d;
    double s = 0.0;
    for (int64_t c = 0; c < d; c++) s += (double)w[c] * w[c];
    if (s == 0.0) continue;  // a zero row has no direction; leave it for the caller to see
    const float inv = (float)(1.0 / std::sqrt(s));
    for (int64_t c = 0; c < d; c++) w[c] *= inv;
  }
}

void projectRowGrad(const float* W, float* G, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float* w = W + i * d;
    float* g = G + i * d;
    double dot = 0.0, nn = 0.0;
    for (int64_t c = 0; c < d; c++) {
      dot += (double)w[c] * g[c];
      nn += (double)w[c] * w[c];
    }
    if (nn == 0.0) continue;
    const float a = (float)(dot / nn);
    for (int64_t c = 0; c < d; c++) g[c] -= a * w[c];
  }
}

void adamUnitRows(float* W, float* G, float* m, float* v, int64_t n, int64_t d, double lr, double beta1,
                  double beta2, double eps, int64_t step) {
  const AdamCoef k(lr, beta1, beta2, eps, step);
  const float stepSize = k.stepSize, invSqrtBc2 = k.invSqrtBc2, b1 = k.b1, b2 = k.b2, b1c = k.b1c, b2c = k.b2c, epsf = k.eps;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float* w = W + i * d;
    float* g = G + i * d;
    float* mi = m + i * d;
    float* vi = v + i * d;
    // float sums over 8+ SIMD lanes: d ≤ a few thousand, so the rounding stays ~1e-6 relative
    float dot = 0.0f, nn = 0.0f;
#pragma omp simd reduction(+ : dot, nn)
    for (int64_t c = 0; c < d; c++) {
      dot += w[c] * g[c];
      nn += w[c] * w[c];
    }
    const float a = nn == 0.0f ? 0.0f : dot / nn;
    float norm2 = 0.0f;
#pragma omp simd reduction(+ : norm2)
    for (int64_t c = 0; c < d; c++) {
      const float ge = g[c] - a * w[c];
      g[c] = ge;
      const float me = b1 * mi[c] + b1c * ge;
      const float ve = b2 * vi[c] + b2c * ge * ge;
      mi[c] = me;
      vi[c] = ve;
      const float we = w[c] - stepSize * me / (std::sqrt(ve) * invSqrtBc2 + epsf);
      w[c] = we;
      norm2 += we * we;
    }
    if (norm2 == 0.0f) continue;
    const float inv = 1.0f / std::sqrt(norm2);
    for (int64_t c = 0; c < d; c++) w[c] *= inv;
  }
}

}  // namespace saekit
