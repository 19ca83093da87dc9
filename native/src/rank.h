// The order every top-k kernel selects by (topk.cc, encode.cc; the reference's rankCompare):
// the larger value first, NaN ranking as -inf, ties to the smaller index.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace saekit {

// A value's rank key: NaN ranks as -inf so that selection is total and deterministic.
inline float rankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// true when (key av, index ai) ranks strictly above (bv, bi).
inline bool better(float av, int32_t ai, float bv, int32_t bi) { return av > bv || (av == bv && ai < bi); }

}  // namespace saekit
