// Top-k selection kernels: row-wise (heap of k), batch-wide (radix select), thresholds.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"

namespace saekit {
namespace {

// NaN ranks as -inf so that selection is total and deterministic.
inline float rankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// true when (av, ai) ranks strictly above (bv, bi).
inline bool better(float av, int32_t ai, float bv, int32_t bi) {
  return av > bv || (av == bv && ai < bi);
}

// Min-heap on rank: the top is the worst kept entry.
struct Heap {
  std::vector<float> key;
  std::vector<int32_t> idx;
  int64_t size = 0;
  void reset(int64_t k) { key.resize(k); idx.resize(k); size = 0; }
  void siftDown(int64_t i) {
    for (;;) {
      int64_t l = 2 * i + 1, r = l + 1, w = i;
      if (l < size && better(key[w], idx[w], key[l], idx[l])) w = l;
      if (r < size && better(key[w], idx[w], key[r], idx[r])) w = r;
      if (w == i) return;
      std::swap(key[i], key[w]);
      std::swap(idx[i], idx[w]);
      i = w;
    }
  }
  void push(float kv, int32_t j) {
    int64_t i = size++;
    key[i] = kv;
    idx[i] = j;
    while (i > 0) {
      int64_t p = (i - 1) / 2;
      if (!better(key[p], idx[p], key[i], idx[i])) return;
      std::swap(key[i], key[p]);
      std::swap(idx[i], idx[p]);
      i = p;
    }
  }
};

// Order-preserving map float -> uint32 (larger float, larger key); NaN maps like -inf.
inline uint32_t orderKey(float v) {
  float f = rankKey(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace

void topkRows(const float* x, int64_t rows, int64_t cols, int64_t k, const uint8_t* mask,
              float* outVals, int32_t* outIdx) {
  if (k <= 0) return;
#pragma omp parallel
  {
    Heap h;
    h.reset(k);
    std::vector<int32_t> order(k);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < rows; b++) {
      const float* row = x + b * cols;
      h.size = 0;
      for (int64_t j = 0; j < cols; j++) {
        if (mask && !mask[j]) continue;
        float kv = rankKey(row[j]);
        if (h.size < k) {
          h.push(kv, (int32_t)j);
        } else if (kv > h.key[0]) {  // an equal key has a larger index: it ranks lower
          h.key[0] = kv;
          h.idx[0] = (int32_t)j;
          h.siftDown(0);
        }
      }
      int64_t got = h.size;
      for (int64_t t = 0; t < got; t++) order[t] = (int32_t)t;
      std::sort(order.begin(), order.begin() + got, [&](int32_t a, int32_t c) {
        return better(h.key[a], h.idx[a], h.key[c], h.idx[c]);
      });
      float* ov = outVals + b * k;
      int32_t* oi = outIdx + b * k;
      for (int64_t t = 0; t < got; t++) {
        oi[t] = h.idx[order[t]];
        ov[t] = row[oi[t]];
      }
      for (int64_t t = got; t < k; t++) {
        oi[t] = -1;
        ov[t] = 0.0f;
      }
    }
  }
}

int64_t topkBatch(const float* x, int64_t rows, int64_t cols, int64_t kTotal, int32_t* rowPtr,
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
