// The encoder's GEMM fused with the row top-k: pre = A·Wᵀ + bias is computed a tile at a time
// into a scratch that stays in the thread's cache, and each row keeps its best k (and, with a
// mask, its best kAux among masked-in columns) across the tiles, so the B×n pre-activation
// matrix is never written to memory nor read back. The selection is topkRows's: larger value
// first, NaN ranks as -inf, ties to the smaller column index, padding idx -1.
#include <cblas.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"
#include "rank.h"

extern "C" {
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace saekit {
namespace {

struct Cand {
  float v;
  int32_t j;
};
// a ranks before b (rank.h's order)
inline bool before(const Cand& a, const Cand& b) { return better(rankKey(a.v), a.j, rankKey(b.v), b.j); }

// One row's running selection: a heap of its best k so far, the worst on top; once it holds k,
// the worst one's key is the bar that a later column (a larger index, so it loses every tie)
// must pass strictly.
struct RowBest {
  Cand* heap;
  int64_t k;
  int64_t count = 0;
  bool full = false;
  float bar = -std::numeric_limits<float>::infinity();

  void offer(float v, int32_t j) {
    if (full) {
      if (!(rankKey(v) > bar)) return;
      std::pop_heap(heap, heap + k, before);
      heap[k - 1] = Cand{v, j};
    } else {
      heap[count++] = Cand{v, j};
      full = count == k;
    }
    std::push_heap(heap, heap + count, before);
    if (full) bar = rankKey(heap[0].v);
  }
};

// Bit t set where x[t] + add[t] > bar, t < 16 (a NaN is not): one AVX-512 compare where the
// CPU has it, else GCC vector extensions (SIMD on any x86 target).
#ifdef __AVX512F__
inline uint32_t above(const float* x, const float* add, float bar) {
  const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(add));
  return _mm512_cmp_ps_mask(v, _mm512_set1_ps(bar), _CMP_GT_OQ);
}
#else
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
inline uint32_t above(const float* x, const float* add, float bar) {
  v16f a, b;
  std::memcpy(&a, x, 64);
  std::memcpy(&b, add, 64);
  const v16i gt = (a + b) > bar;
  uint32_t bits = 0;
  for (int t = 0; t < 16; t++) bits |= gt[t] ? 1u << t : 0u;
  return bits;
}
#endif

// Offers a row's band (columns c0 .. c0+nc of pre) to sel: the value pre + bias, where add
// holds the bias and -inf at columns that do not compete (mask). Once sel is full, only the
// columns of each 16 that beat the bar are offered.
void scanBand(const float* row, const float* bias, const float* add, const uint8_t* mask, int64_t c0, int64_t nc, RowBest& sel) {
  for (int64_t j = 0; j < nc; j += 16) {
    const int64_t end = std::min(nc, j + 16);
    if (sel.full && end - j == 16) {
      for (uint32_t bits = above(row + j, add + c0 + j, sel.bar); bits; bits &= bits - 1) {
        const int64_t t = j + __builtin_ctz(bits);
        sel.offer(row[t] + bias[c0 + t], (int32_t)(c0 + t));
      }
      continue;
    }
    for (int64_t t = j; t < end; t++) {
      if (mask && !mask[c0 + t]) continue;
      sel.offer(row[t] + bias[c0 + t], (int32_t)(c0 + t));
    }
  }
}

// Each row's selections (best, and with a mask, aux) over the columns one thread scans.
struct Selections {
  std::vector<Cand> buf, auxBuf;
  std::vector<RowBest> best, auxBest;
  Selections(int64_t m, int64_t k, int64_t kAux) : buf((size_t)(m * k)), auxBuf((size_t)(m * kAux)) {
    for (int64_t b = 0; b < m; b++) {
      if (k > 0) best.push_back(RowBest{buf.data() + b * k, k});
      if (kAux > 0) auxBest.push_back(RowBest{auxBuf.data() + b * kAux, kAux});
    }
  }
  // rows [r0, r0 + rows) of a tile pre[:, c0 .. c0+nc) (row stride nc)
  void scan(const float* tile, int64_t r0, int64_t rows, int64_t c0, int64_t nc, const float* bias, const float* auxAdd,
            const uint8_t* auxMask) {
    for (int64_t i = 0; i < rows; i++) {
      if (!best.empty()) scanBand(tile + i * nc, bias, bias, nullptr, c0, nc, best[r0 + i]);
      if (!auxBest.empty()) scanBand(tile + i * nc, bias, auxAdd, auxMask, c0, nc, auxBest[r0 + i]);
    }
  }
};

// A row's best k over every thread's selection, best first, into outVal/outIdx [k], padded with
// idx -1 and value 0.
void mergeRow(std::vector<RowBest*>& parts, int64_t k, float* outVal, int32_t* outIdx) {
  std::vector<Cand> all;
  for (RowBest* p : parts) {
    all.insert(all.end(), p->heap, p->heap + p->count);
  }
  const int64_t got = std::min<int64_t>(k, (int64_t)all.size());
  std::partial_sort(all.begin(), all.begin() + got, all.end(), before);
  for (int64_t t = 0; t < got; t++) outVal[t] = all[t].v, outIdx[t] = all[t].j;
  for (int64_t t = got; t < k; t++) outVal[t] = 0.0f, outIdx[t] = -1;
}

}  // namespace

void encodeTopk(const void* a, const void* w, bool bf16, const float* bias, int64_t m, int64_t n, int64_t d, int64_t k,
                float* outVals, int32_t* outIdx, const uint8_t* auxMask, int64_t kAux, float* auxVals, int32_t* auxIdx) {
  if (m == 0) return;
  if (!(auxMask && kAux > 0)) kAux = 0, auxMask = nullptr;
  std::vector<float> zeros;
  if (!bias) zeros.assign((size_t)n, 0.0f), bias = zeros.data();
  std::vector<float> auxAdd;
  if (kAux > 0) {
    auxAdd.resize((size_t)n);
    for (int64_t j = 0; j < n; j++) auxAdd[j] = auxMask[j] ? bias[j] : -std::numeric_limits<float>::infinity();
  }
  // The operands as the tiles read them: bf16 bits where oneDNN multiplies them natively, else
  // float32 (bf16 widened once, exactly) for OpenBLAS.
  const bool native16 = bf16 && bf16Native();
  const auto* a16 = static_cast<const uint16_t*>(a);
  const auto* w16 = static_cast<const uint16_t*>(w);
  const float* af = static_cast<const float*>(a);
  const float* wf = static_cast<const float*>(w);
  std::vector<float> aWide, wWide;
  if (bf16 && !native16) {
    aWide.resize((size_t)(m * d));
    wWide.resize((size_t)(n * d));
    fromBf16(a16, aWide.data(), m * d);
    fromBf16(w16, wWide.data(), n * d);
    af = aWide.data();
    wf = wWide.data();
  }
  // Tiles of 512 rows × 512 columns (1 MiB of pre, kept in the thread's cache between its GEMM
  // and its scan), each multiplied by one thread alone; every thread keeps its own selections,
  // merged at the end. OpenBLAS runs single-threaded meanwhile (its own threads would compete
  // with these for the cores).
  const int64_t T = omp_get_max_threads();
  const int64_t tileRows = 512, band = std::max<int64_t>(1, std::min<int64_t>(n, 512));
  const int64_t nBands = (n + band - 1) / band, rowBlocks = (m + tileRows - 1) / tileRows;
  std::vector<Selections> sel;
  sel.reserve((size_t)T);
  for (int64_t t = 0; t < T; t++) sel.emplace_back(m, k, kAux);
  const int blasThreads = openblas_get_num_threads();
  if (!native16) openblas_set_num_threads(1);
#pragma omp parallel num_threads(T)
  {
    std::vector<float> tile((size_t)(std::min(tileRows, m) * band));
    // tiles in order of band, then row block, dealt round-robin: the threads work on the same
    // band of W at once (read from memory once), and each row's columns reach a thread in
    // increasing order, as its selection needs
#pragma omp for schedule(static, 1)
    for (int64_t id = 0; id < nBands * rowBlocks; id++) {
      const int64_t c0 = (id / rowBlocks) * band, nc = std::min(band, n - c0);
      const int64_t r0 = (id % rowBlocks) * tileRows, rows = std::min(tileRows, m - r0);
      if (d == 0) std::fill(tile.begin(), tile.end(), 0.0f);
      else if (native16) gemmBf16Tile(a16 + r0 * d, w16 + c0 * d, tile.data(), rows, nc, d);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nc, (int)d, 1.0f, af + r0 * d, (int)d, wf + c0 * d, (int)d,
                    0.0f, tile.data(), (int)nc);
      sel[omp_get_thread_num()].scan(tile.data(), r0, rows, c0, nc, bias, auxAdd.data(), auxMask);
    }
  }
  if (!native16) openblas_set_num_threads(blasThreads);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < m; b++) {
    std::vector<RowBest*> parts;
    if (k > 0) {
      for (auto& s : sel) parts.push_back(&s.best[b]);
      mergeRow(parts, k, outVals + b * k, outIdx + b * k);
    }
    if (kAux > 0) {
      parts.clear();
      for (auto& s : sel) parts.push_back(&s.auxBest[b]);
      mergeRow(parts, kAux, auxVals + b * kAux, auxIdx + b * kAux);
    }
  }
}

}  // namespace saekit
