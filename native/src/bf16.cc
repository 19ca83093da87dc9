// bf16 GEMM with f32 accumulation for the encoder (C = A·Bᵀ (+ bias), A [m, k], B [n, k], both
// bf16, C f32), through oneDNN's matmul primitive when the addon is built with it
// (SAEKIT_DNNL, Debian's libdnnl-dev) and the CPU runs it natively (AVX512_BF16 or AMX);
// otherwise by widening to f32 and calling OpenBLAS, which gives the same numbers up to the
// order of the f32 sums. The choice of oneDNN over libxsmm is measured in BENCHMARKS.md.
#include <cblas.h>
#include <omp.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <unordered_map>
#include <vector>

#include "kernels.h"

#ifdef SAEKIT_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace saekit {

void toBf16(const float* src, uint16_t* dst, int64_t len) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < len; i++) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    // round to nearest even; a NaN stays a (quiet) NaN
    dst[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40u) : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}

void fromBf16(const uint16_t* src, float* dst, int64_t len) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < len; i++) {
    const uint32_t u = (uint32_t)src[i] << 16;
    std::memcpy(dst + i, &u, 4);
  }
}

namespace {

void gemmBf16Widened(const uint16_t* a, const uint16_t* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
  std::vector<float> af((size_t)(m * k)), bf((size_t)(n * k));
  fromBf16(a, af.data(), m * k);
  fromBf16(b, bf.data(), n * k);
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) std::memcpy(c + i * n, bias, (size_t)n * 4);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, af.data(), (int)k, bf.data(), (int)k,
              bias ? 1.0f : 0.0f, c, (int)n);
}

#ifdef SAEKIT_DNNL
dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::matmul::primitive_desc describe(int64_t m, int64_t n, int64_t k, bool bias) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dnnl::memory::desc src({m, k}, dt::bf16, tag::ab);
  // the weights as the [k, n] operand: B [n, k] row-major is its "ba" layout, used as stored
  const dnnl::memory::desc wei({k, n}, dt::bf16, tag::ba);
  const dnnl::memory::desc dst({m, n}, dt::f32, tag::ab);
  if (bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dnnl::memory::desc({1, n}, dt::f32, tag::ab), dst), engine());
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), engine());
}

// Whether oneDNN runs bf16 natively here: its implementation names the ISA it was built for
// ("brg:avx512_core_bf16", "brg:avx512_core_amx"); a plain "avx512_core" one emulates bf16.
bool nativeImpl(const std::string& impl) {
  return impl.find("bf16") != std::string::npos || impl.find("amx") != std::string::npos;
}
#endif

}  // namespace

std::string bf16Info(bool* fast) {
  *fast = false;
#ifdef SAEKIT_DNNL
  try {
    const std::string impl = describe(256, 256, 256, false).impl_info_str();
    const dnnl_version_t* v = dnnl_version();
    const std::string lib = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    if (nativeImpl(impl)) {
      *fast = true;
      return lib + " matmul " + impl;
    }
    return lib + " has no native bf16 matmul on this CPU (it chose " + impl + "; AVX512_BF16 or AMX is needed)";
  } catch (const dnnl::error& e) {
    return std::string("oneDNN could not build a bf16 matmul here: ") + e.what();
  }
#else
  return "the addon was built without oneDNN (install libdnnl-dev and run npm run build:native)";
#endif
}

void gemmBf16(const uint16_t* a, const uint16_t* b, const float* bias, float* c, int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0) return;
#ifdef SAEKIT_DNNL
  if (bf16Native() && k > 0) {
    // oneDNN keeps its own cache of primitives by shape, so describing the matmul again per
    // call costs microseconds next to the GEMM
    const auto pd = describe(m, n, k, bias != nullptr);
    dnnl::stream s(engine());
    dnnl::memory am(pd.src_desc(), engine(), const_cast<uint16_t*>(a));
    dnnl::memory bm(pd.weights_desc(), engine(), const_cast<uint16_t*>(b));
    dnnl::memory cm(pd.dst_desc(), engine(), c);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(pd.bias_desc(), engine(), const_cast<float*>(bias)));
    dnnl::matmul(pd).execute(s, args);
    s.wait();
    return;
  }
#endif
  gemmBf16Widened(a, b, bias, c, m, n, k);
}

bool bf16Native() {
  static const bool fast = [] {
    bool f;
    bf16Info(&f);
    return f;
  }();
  return fast;
}

void gemmBf16Tile(const uint16_t* a, const uint16_t* b, float* c, int64_t mb, int64_t nb, int64_t k) {
#ifdef SAEKIT_DNNL
  if (mb == 0 || nb == 0 || k == 0) return;
  // each thread keeps its own primitives (by tile shape) and its own scratchpad: oneDNN's shared
  // one would be written by every thread at once; inside the caller's parallel region oneDNN
  // runs the tile on the calling thread alone
  struct Tile {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
  };
  thread_local std::map<std::pair<int64_t, int64_t>, Tile> tiles;
  thread_local std::vector<char> scratchpad;
  auto it = tiles.find({mb, nb});
  if (it == tiles.end()) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::memory::desc src({mb, k}, dt::bf16, tag::ab), wei({k, nb}, dt::bf16, tag::ba), dst({mb, nb}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, engine());
    it = tiles.emplace(std::make_pair(mb, nb), Tile{pd, dnnl::matmul(pd)}).first;
  }
  const auto& pd = it->second.pd;
  if (scratchpad.size() < pd.scratchpad_desc().get_size()) scratchpad.resize(pd.scratchpad_desc().get_size());
  dnnl::stream s(engine());
  it->second.prim.execute(s, {{DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine(), const_cast<uint16_t*>(a))},
                              {DNNL_ARG_WEIGHTS, dnnl::memory(pd.weights_desc(), engine(), const_cast<uint16_t*>(b))},
                              {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine(), c)},
                              {DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), engine(), scratchpad.data())}});
  s.wait();
#else
  (void)a, (void)b, (void)c, (void)mb, (void)nb, (void)k;
#endif
}

}  // namespace saekit
