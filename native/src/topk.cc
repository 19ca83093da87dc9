// Top-k selection kernels: row-wise (heap of k), batch-wide (radix select), thresholds.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"
#include "rank.h"

namespace saekit {
namespace {

// Columns per chunk of the two-pass row top-k.
constexpr int64_t CHUNK = 64;

// out[c] = max over chunk c (CHUNK columns) of x[j] (+ add[j]); NaN never wins, so an all-NaN
// chunk gives -inf. GCC vector extensions compile to SIMD on any x86 target.
typedef float v8f __attribute__((vector_size(32)));
inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, 32);
  return v;
}
// Whether any of 8 floats x[t] (+ add[t]) is >= t0. A NaN compares false; when t0 is -inf
// a NaN may still be a candidate, so the caller never skips in that case.
inline bool anyAtLeast(const float* x, const float* add, float t0) {
  if (t0 == -std::numeric_limits<float>::infinity()) return true;
  v8f a = load8(x);
  if (add) a += load8(add);
  const v8f t = {t0, t0, t0, t0, t0, t0, t0, t0};
  const auto m = a >= t;
  for (int l = 0; l < 8; l++)
    if (m[l]) return true;
  return false;
}

void chunkMax(const float* x, const float* add, int64_t cols, float* out) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t full = cols / CHUNK;
  for (int64_t c = 0; c < full; c++) {
    v8f m = {ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf};
    for (int64_t t = 0; t < CHUNK; t += 8) {
      v8f a = load8(x + c * CHUNK + t);
      if (add) a += load8(add + c * CHUNK + t);
      m = a > m ? a : m;
    }
    float r = ninf;
    for (int t = 0; t < 8; t++) r = m[t] > r ? m[t] : r;
    out[c] = r;
  }
  if (full * CHUNK < cols) {
    float r = ninf;
    for (int64_t j = full * CHUNK; j < cols; j++) {
      const float v = add ? x[j] + add[j] : x[j];
      r = v > r ? v : r;
    }
    out[full] = r;
  }
}

// Order-preserving map float -> uint32 (larger float, larger key); NaN maps like -inf.
inline uint32_t orderKey(float v) {
  float f = rankKey(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace

void topkRows(const float* x, int64_t rows, int64_t cols, int64_t k, const uint8_t* mask,
              const float* bias, float* outVals, int32_t* outIdx) {
  if (k <= 0) return;
  const int64_t nChunks = (cols + CHUNK - 1) / CHUNK;
  const float ninf = -std::numeric_limits<float>::infinity();
  // Per-column addend of the ranked key: the bias, and -inf where the mask excludes a column.
  std::vector<float> add;
  if (mask || bias) {
    add.resize(cols);
    for (int64_t j = 0; j < cols; j++) add[j] = mask && !mask[j] ? ninf : (bias ? bias[j] : 0.0f);
  }
  const float* addp = add.empty() ? nullptr : add.data();
#pragma omp parallel
  {
    std::vector<float> cmax(nChunks), sel(nChunks);
    std::vector<std::pair<float, int32_t>> cand;
    auto rankOrder = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& c) {
      return better(a.first, a.second, c.first, c.second);
    };
#pragma omp for schedule(static)
    for (int64_t b = 0; b < rows; b++) {
      const float* row = x + b * cols;
      // Pass 1: each chunk's maximum key (x + bias, -inf where masked out, NaN as -inf). The
      // k-th largest chunk maximum t0 bounds the row's k-th largest key from below (k chunks
      // each hold an entry >= t0), so pass 2 gathers only entries >= t0 from chunks that have one.
      chunkMax(row, addp, cols, cmax.data());
      float t0 = ninf;
      if (nChunks > k) {
        std::copy(cmax.begin(), cmax.end(), sel.begin());
        std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end(), std::greater<float>());
        t0 = sel[k - 1];
      }
      cand.clear();
      for (int64_t c = 0; c < nChunks; c++) {
        if (cmax[c] < t0) continue;
        const int64_t j0 = c * CHUNK, j1 = std::min(cols, (c + 1) * CHUNK);
        for (int64_t g = j0; g < j1; g += 8) {
          if (g + 8 <= j1 && !anyAtLeast(row + g, addp ? addp + g : nullptr, t0)) continue;
          for (int64_t j = g; j < std::min(j1, g + 8); j++) {
            if (mask && !mask[j]) continue;
            const float kv = rankKey(addp ? row[j] + addp[j] : row[j]);
            if (kv >= t0) cand.emplace_back(kv, (int32_t)j);
          }
        }
      }
      const int64_t got = std::min<int64_t>(k, (int64_t)cand.size());
      if (got > 0 && (int64_t)cand.size() > got) std::nth_element(cand.begin(), cand.begin() + (got - 1), cand.end(), rankOrder);
      std::sort(cand.begin(), cand.begin() + got, rankOrder);
      float* ov = outVals + b * k;
      int32_t* oi = outIdx + b * k;
      for (int64_t t = 0; t < got; t++) {
        const int32_t j = cand[t].second;
        oi[t] = j;
        ov[t] = bias ? row[j] + bias[j] : row[j];
      }
      for (int64_t t = got; t < k; t++) {
        oi[t] = -1;
        ov[t] = 0.0f;
      }
    }
  }
}

namespace {

// The exact radix select over the whole matrix: two 16-bit histogram passes for the threshold
// key, then a count and a gather pass. The fallback of topkBatch.
int64_t topkBatchRadix(const float* x, int64_t rows, int64_t cols, int64_t kTotal, int32_t* rowPtr,
                       int32_t* outIdx, float* outVals) {
  const int64_t total = rows * cols;
  if (kTotal > total) kTotal = total;
  if (kTotal < 0) kTotal = 0;
  // Threshold key T and how many entries equal to T to take (the first ones in flat order).
  uint32_t T = 0;
  int64_t needEq = 0;
  bool takeAll = kTotal == total;
  if (!takeAll && kTotal > 0) {
    const int nt = omp_get_max_threads();
    std::vector<int64_t> hist((size_t)nt * 65536);
    auto histogram = [&](bool low, uint32_t hi) {
      std::fill(hist.begin(), hist.end(), 0);
#pragma omp parallel
      {
        int64_t* hl = hist.data() + (size_t)omp_get_thread_num() * 65536;
#pragma omp for schedule(static)
        for (int64_t e = 0; e < total; e++) {
          uint32_t key = orderKey(x[e]);
          if (!low) hl[key >> 16]++;
          else if ((key >> 16) == hi) hl[key & 0xFFFF]++;
        }
      }
      for (int t = 1; t < nt; t++)
        for (int bin = 0; bin < 65536; bin++) hist[bin] += hist[(size_t)t * 65536 + bin];
    };
    histogram(false, 0);
    int64_t above = 0;
    int hiBin = 65535;
    for (; hiBin >= 0; hiBin--) {
      if (above + hist[hiBin] >= kTotal) break;
      above += hist[hiBin];
    }
    histogram(true, (uint32_t)hiBin);
    int loBin = 65535;
    for (; loBin >= 0; loBin--) {
      if (above + hist[loBin] >= kTotal) break;
      above += hist[loBin];
    }
    T = ((uint32_t)hiBin << 16) | (uint32_t)loBin;
    needEq = kTotal - above;
  }
  // Per-row counts of entries above T and equal to T; ties are granted in row order.
  std::vector<int32_t> eqCount(rows);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    int32_t gt = 0, eq = 0;
    if (takeAll) {
      gt = (int32_t)cols;
    } else if (kTotal > 0) {
      const float* row = x + b * cols;
      for (int64_t j = 0; j < cols; j++) {
        uint32_t key = orderKey(row[j]);
        gt += key > T;
        eq += key == T;
      }
    }
    rowPtr[b + 1] = gt;
    eqCount[b] = eq;
  }
  rowPtr[0] = 0;
  std::vector<int32_t> eqTake(rows);
  for (int64_t b = 0; b < rows; b++) {
    int32_t t = (int32_t)std::min<int64_t>(needEq, eqCount[b]);
    eqTake[b] = t;
    needEq -= t;
    rowPtr[b + 1] += rowPtr[b] + t;
  }
  if (kTotal == 0) return 0;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    const float* row = x + b * cols;
    int32_t o = rowPtr[b], eqLeft = eqTake[b];
    for (int64_t j = 0; j < cols; j++) {
      uint32_t key = orderKey(row[j]);
      bool take = takeAll || key > T || (key == T && eqLeft-- > 0);
      if (take) {
        outIdx[o] = (int32_t)j;
        outVals[o] = row[j];
        o++;
      }
    }
  }
  return kTotal;
}

// splitmix64: the sample positions of topkBatch, a fixed pseudo-random spread over the matrix.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

// Batch top-k in one pass over x: a threshold t from a sample of 2^16 entries, set below the
// sample's estimate of the kTotal-th largest value by a margin (1.25x the expected count plus
// four standard deviations); one vectorized pass gathers every entry >= t, in flat order; the
// exact kTotal best of those candidates (by key, ties to the earlier flat position) are kept.
// That is exact whenever the candidates hold at least kTotal entries, which is checked: a
// sample that set t too high (or a threshold at -inf) falls back to the radix select.
int64_t topkBatch(const float* x, int64_t rows, int64_t cols, int64_t kTotal, int32_t* rowPtr,
                  int32_t* outIdx, float* outVals) {
  const int64_t total = rows * cols;
  const int64_t SAMPLE = 1 << 16;
  if (kTotal <= 0 || kTotal >= total || total < 4 * SAMPLE) return topkBatchRadix(x, rows, cols, kTotal, rowPtr, outIdx, outVals);
  const double q = (double)kTotal / (double)total;
  const double expect = (double)SAMPLE * q;
  const int64_t rank = (int64_t)std::ceil(1.25 * expect + 4.0 * std::sqrt(expect) + 16.0);
  if (rank >= SAMPLE / 2) return topkBatchRadix(x, rows, cols, kTotal, rowPtr, outIdx, outVals);
  std::vector<uint32_t> sample(SAMPLE);
  for (int64_t i = 0; i < SAMPLE; i++) sample[i] = orderKey(x[mix((uint64_t)i) % (uint64_t)total]);
  std::nth_element(sample.begin(), sample.begin() + (rank - 1), sample.end(), std::greater<uint32_t>());
  const uint32_t tKey = sample[rank - 1];
  float t;
  {
    const uint32_t u = (tKey & 0x80000000u) ? (tKey & 0x7fffffffu) : ~tKey;
    std::memcpy(&t, &u, 4);
  }
  if (!(t > -std::numeric_limits<float>::infinity())) return topkBatchRadix(x, rows, cols, kTotal, rowPtr, outIdx, outVals);

  // one pass: candidates (flat position, key) with x >= t, per thread over contiguous rows
  const int nt = omp_get_max_threads();
  std::vector<std::vector<std::pair<int64_t, uint32_t>>> found(nt);
#pragma omp parallel
  {
    auto& mine = found[omp_get_thread_num()];
    mine.reserve((size_t)(1.5 * (double)kTotal / nt) + 64);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < rows; b++) {
      const float* row = x + b * cols;
      int64_t j = 0;
      for (; j + 8 <= cols; j += 8) {
        if (!anyAtLeast(row + j, nullptr, t)) continue;
        for (int64_t l = j; l < j + 8; l++)
          if (row[l] >= t) mine.emplace_back(b * cols + l, orderKey(row[l]));
      }
      for (; j < cols; j++)
        if (row[j] >= t) mine.emplace_back(b * cols + j, orderKey(row[j]));
    }
  }
  // static scheduling hands each thread one contiguous block of rows, in thread order
  std::vector<std::pair<int64_t, uint32_t>> cand;
  size_t count = 0;
  for (auto& f : found) count += f.size();
  if ((int64_t)count < kTotal) return topkBatchRadix(x, rows, cols, kTotal, rowPtr, outIdx, outVals);
  cand.reserve(count);
  for (auto& f : found) cand.insert(cand.end(), f.begin(), f.end());
  // the kTotal-th best candidate's key T; entries above T are kept, and of those equal to T
  // the first ones in flat order
  std::vector<uint32_t> keys(count);
  for (size_t i = 0; i < count; i++) keys[i] = cand[i].second;
  std::nth_element(keys.begin(), keys.begin() + (kTotal - 1), keys.end(), std::greater<uint32_t>());
  const uint32_t T = keys[kTotal - 1];
  int64_t above = 0;
  for (size_t i = 0; i < count; i++) above += cand[i].second > T;
  int64_t eqLeft = kTotal - above;
  std::fill(rowPtr, rowPtr + rows + 1, 0);
  int64_t o = 0;
  for (size_t i = 0; i < count; i++) {
    const auto [flat, key] = cand[i];
    if (key > T || (key == T && eqLeft-- > 0)) {
      const int64_t b = flat / cols, j = flat - b * cols;
      rowPtr[b + 1]++;
      outIdx[o] = (int32_t)j;
      outVals[o] = x[flat];
      o++;
    }
  }
  for (int64_t b = 0; b < rows; b++) rowPtr[b + 1] += rowPtr[b];
  return kTotal;
}

void thresholdCount(const float* x, int64_t rows, int64_t cols, const float* theta, int32_t* counts) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    const float* row = x + b * cols;
    int32_t c = 0;
    for (int64_t j = 0; j < cols; j++) c += row[j] > theta[j];
    counts[b] = c;
  }
}

void thresholdGather(const float* x, int64_t rows, int64_t cols, const float* theta,
                     const int32_t* rowPtr, int32_t* outIdx, float* outVals) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < rows; b++) {
    const float* row = x + b * cols;
    int32_t o = rowPtr[b];
    for (int64_t j = 0; j < cols; j++) {
      if (row[j] > theta[j]) {
        outIdx[o] = (int32_t)j;
        outVals[o] = row[j];
        o++;
      }
    }
  }
}

}  // namespace saekit
