// N-API bindings: unwrap typed arrays and sizes, call a kernel, return. Argument checking
// (lengths, ranges) is done once in TypeScript (src/compute/backend.ts) for both backends.
#include <cblas.h>
#include <napi.h>
#include <omp.h>

#include "comm.h"
#include "kernels.h"

extern "C" {
char* openblas_get_config(void);
char* openblas_get_corename(void);
void openblas_set_num_threads(int);
}

namespace {

template <typename T>
T* ptr(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  if (!info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a typed array");
  return info[i].As<Napi::TypedArrayOf<T>>().Data();
}
int64_t i64(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
float f32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().FloatValue(); }
double f64(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  // (transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc), row-major
  const bool ta = info[0].As<Napi::Boolean>(), tb = info[1].As<Napi::Boolean>();
  const int64_t m = i64(info, 2), n = i64(info, 3), k = i64(info, 4);
  if (m == 0 || n == 0) return info.Env().Undefined();
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
              (int)k, f32(info, 5), ptr<float>(info, 6), (int)i64(info, 7), ptr<float>(info, 8), (int)i64(info, 9),
              f32(info, 10), ptr<float>(info, 11), (int)i64(info, 12));
  return info.Env().Undefined();
}

Napi::Value TopkRows(const Napi::CallbackInfo& info) {
  // (x, rows, cols, k, mask|null, bias|null, outVals, outIdx)
  saekit::topkRows(ptr<float>(info, 0), i64(info, 1), i64(info, 2), i64(info, 3), ptr<uint8_t>(info, 4),
                   ptr<float>(info, 5), ptr<float>(info, 6), ptr<int32_t>(info, 7));
  return info.Env().Undefined();
}

Napi::Value TopkBatch(const Napi::CallbackInfo& info) {
  // (x, rows, cols, kTotal, rowPtr, outIdx, outVals) -> count
  int64_t got = saekit::topkBatch(ptr<float>(info, 0), i64(info, 1), i64(info, 2), i64(info, 3),
                                  ptr<int32_t>(info, 4), ptr<int32_t>(info, 5), ptr<float>(info, 6));
  return Napi::Number::New(info.Env(), (double)got);
}

Napi::Value ThresholdCount(const Napi::CallbackInfo& info) {
  saekit::thresholdCount(ptr<float>(info, 0), i64(info, 1), i64(info, 2), ptr<float>(info, 3), ptr<int32_t>(info, 4));
  return info.Env().Undefined();
}

Napi::Value ThresholdGather(const Napi::CallbackInfo& info) {
  saekit::thresholdGather(ptr<float>(info, 0), i64(info, 1), i64(info, 2), ptr<float>(info, 3),
                          ptr<int32_t>(info, 4), ptr<int32_t>(info, 5), ptr<float>(info, 6));
  return info.Env().Undefined();
}

Napi::Value SparseDecode(const Napi::CallbackInfo& info) {
  // (rowPtr, idx, vals, rows, W, d, bias|null, out)
  saekit::sparseDecode(ptr<int32_t>(info, 0), ptr<int32_t>(info, 1), ptr<float>(info, 2), i64(info, 3),
                       ptr<float>(info, 4), i64(info, 5), ptr<float>(info, 6), ptr<float>(info, 7));
  return info.Env().Undefined();
}

Napi::Value SparseAccumulate(const Napi::CallbackInfo& info) {
  // (rowPtr, idx, vals, rows, M, d, n, G, overwrite)
  saekit::sparseAccumulate(ptr<int32_t>(info, 0), ptr<int32_t>(info, 1), ptr<float>(info, 2), i64(info, 3),
                           ptr<float>(info, 4), i64(info, 5), i64(info, 6), ptr<float>(info, 7),
                           info[8].As<Napi::Boolean>());
  return info.Env().Undefined();
}

Napi::Value SparseDot(const Napi::CallbackInfo& info) {
  // (rowPtr, idx, rows, M, W, d, out)
  saekit::sparseDot(ptr<int32_t>(info, 0), ptr<int32_t>(info, 1), i64(info, 2), ptr<float>(info, 3),
                    ptr<float>(info, 4), i64(info, 5), ptr<float>(info, 6));
  return info.Env().Undefined();
}

Napi::Value Adam(const Napi::CallbackInfo& info) {
  // (p, g, m, v, len, lr, beta1, beta2, eps, step)
  saekit::adam(ptr<float>(info, 0), ptr<float>(info, 1), ptr<float>(info, 2), ptr<float>(info, 3), i64(info, 4),
               f64(info, 5), f64(info, 6), f64(info, 7), f64(info, 8), i64(info, 9));
  return info.Env().Undefined();
}

Napi::Value AdamUnitRows(const Napi::CallbackInfo& info) {
  // (W, G, m, v, n, d, lr, beta1, beta2, eps, step)
  saekit::adamUnitRows(ptr<float>(info, 0), ptr<float>(info, 1), ptr<float>(info, 2), ptr<float>(info, 3), i64(info, 4),
                       i64(info, 5), f64(info, 6), f64(info, 7), f64(info, 8), f64(info, 9), i64(info, 10));
  return info.Env().Undefined();
}

Napi::Value RowNorms(const Napi::CallbackInfo& info) {
  saekit::rowNorms(ptr<float>(info, 0), i64(info, 1), i64(info, 2), ptr<float>(info, 3));
  return info.Env().Undefined();
}

Napi::Value NormalizeRows(const Napi::CallbackInfo& info) {
  saekit::normalizeRows(ptr<float>(info, 0), i64(info, 1), i64(info, 2));
  return info.Env().Undefined();
}

Napi::Value ProjectRowGrad(const Napi::CallbackInfo& info) {
  saekit::projectRowGrad(ptr<float>(info, 0), ptr<float>(info, 1), i64(info, 2), i64(info, 3));
  return info.Env().Undefined();
}

Napi::Value MinCosine(const Napi::CallbackInfo& info) {
  // (W, n, d, block, outVal, outIdx)
  saekit::minCosine(ptr<float>(info, 0), i64(info, 1), i64(info, 2), i64(info, 3), ptr<float>(info, 4),
                    ptr<int32_t>(info, 5));
  return info.Env().Undefined();
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  // (q, k, v, out, batch, T, pos0, cap, nHeads, nKv, hd, scale, softcap, window)
  saekit::attention(ptr<float>(info, 0), ptr<float>(info, 1), ptr<float>(info, 2), ptr<float>(info, 3), i64(info, 4),
                    i64(info, 5), i64(info, 6), i64(info, 7), i64(info, 8), i64(info, 9), i64(info, 10), f32(info, 11),
                    f32(info, 12), i64(info, 13));
  return info.Env().Undefined();
}

Napi::Value Activate(const Napi::CallbackInfo& info) {
  // (x, u|null, n, kind)
  saekit::activate(ptr<float>(info, 0), ptr<float>(info, 1), i64(info, 2), (int32_t)i64(info, 3));
  return info.Env().Undefined();
}

Napi::Value ToBf16(const Napi::CallbackInfo& info) {
  // (src f32, dst u16, len)
  saekit::toBf16(ptr<float>(info, 0), ptr<uint16_t>(info, 1), i64(info, 2));
  return info.Env().Undefined();
}

Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  // (a u16 [m,k], b u16 [n,k], bias|null, c f32 [m,n], m, n, k)
  saekit::gemmBf16(ptr<uint16_t>(info, 0), ptr<uint16_t>(info, 1), ptr<float>(info, 2), ptr<float>(info, 3), i64(info, 4),
                   i64(info, 5), i64(info, 6));
  return info.Env().Undefined();
}

Napi::Value EncodeTopk(const Napi::CallbackInfo& info) {
  // (a, w, bias|null, m, n, d, k, outVals, outIdx, auxMask|null, kAux, auxVals|null, auxIdx|null);
  // a and w both Float32Array, or both Uint16Array (bf16 bits)
  const bool bf16 = info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  const void* a = bf16 ? (const void*)ptr<uint16_t>(info, 0) : (const void*)ptr<float>(info, 0);
  const void* w = bf16 ? (const void*)ptr<uint16_t>(info, 1) : (const void*)ptr<float>(info, 1);
  saekit::encodeTopk(a, w, bf16, ptr<float>(info, 2), i64(info, 3), i64(info, 4), i64(info, 5), i64(info, 6), ptr<float>(info, 7),
                     ptr<int32_t>(info, 8), ptr<uint8_t>(info, 9), i64(info, 10), ptr<float>(info, 11), ptr<int32_t>(info, 12));
  return info.Env().Undefined();
}

Napi::Value MpiInit(const Napi::CallbackInfo& info) {
  int rank = 0, size = 1;
  try {
    saekit::mpiInit(&rank, &size);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", rank);
  o.Set("size", size);
  return o;
}

Napi::Value MpiSum(const Napi::CallbackInfo& info) {
  // (Float32Array | Float64Array): summed over the ranks in place, in rank order
  try {
    if (info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      auto a = info[0].As<Napi::Float64Array>();
      saekit::mpiSumF64(a.Data(), (int64_t)a.ElementLength());
    } else {
      auto a = info[0].As<Napi::Float32Array>();
      saekit::mpiSumF32(a.Data(), (int64_t)a.ElementLength());
    }
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value MpiAllgather(const Napi::CallbackInfo& info) {
  // (src TypedArray, dst TypedArray of ranks × src's bytes): every rank's src in rank order
  auto src = info[0].As<Napi::TypedArray>(), dst = info[1].As<Napi::TypedArray>();
  const int64_t bytes = (int64_t)src.ByteLength();
  uint8_t* s = static_cast<uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  uint8_t* d = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  try {
    saekit::mpiAllgather(s, d, bytes);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value MpiBarrier(const Napi::CallbackInfo& info) {
  saekit::mpiBarrier();
  return info.Env().Undefined();
}

Napi::Value MpiAbort(const Napi::CallbackInfo& info) {
  saekit::mpiAbort((int)i64(info, 0));
  return info.Env().Undefined();
}

Napi::Value MpiFinalize(const Napi::CallbackInfo& info) {
  saekit::mpiFinalize();
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int t = (int)i64(info, 0);
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blasConfig", openblas_get_config());
  o.Set("blasCore", openblas_get_corename());
  o.Set("threads", omp_get_max_threads());
  bool fast = false;
  o.Set("bf16", saekit::bf16Info(&fast));
  o.Set("bf16Fast", fast);
  o.Set("mpi", saekit::mpiAvailable());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("topkRows", Napi::Function::New(env, TopkRows));
  exports.Set("topkBatch", Napi::Function::New(env, TopkBatch));
  exports.Set("thresholdCount", Napi::Function::New(env, ThresholdCount));
  exports.Set("thresholdGather", Napi::Function::New(env, ThresholdGather));
  exports.Set("sparseDecode", Napi::Function::New(env, SparseDecode));
  exports.Set("sparseAccumulate", Napi::Function::New(env, SparseAccumulate));
  exports.Set("sparseDot", Napi::Function::New(env, SparseDot));
  exports.Set("adam", Napi::Function::New(env, Adam));
  exports.Set("adamUnitRows", Napi::Function::New(env, AdamUnitRows));
  exports.Set("rowNorms", Napi::Function::New(env, RowNorms));
  exports.Set("normalizeRows", Napi::Function::New(env, NormalizeRows));
  exports.Set("projectRowGrad", Napi::Function::New(env, ProjectRowGrad));
  exports.Set("minCosine", Napi::Function::New(env, MinCosine));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("activate", Napi::Function::New(env, Activate));
  exports.Set("toBf16", Napi::Function::New(env, ToBf16));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16));
  exports.Set("encodeTopk", Napi::Function::New(env, EncodeTopk));
  exports.Set("mpiInit", Napi::Function::New(env, MpiInit));
  exports.Set("mpiSum", Napi::Function::New(env, MpiSum));
  exports.Set("mpiAllgather", Napi::Function::New(env, MpiAllgather));
  exports.Set("mpiBarrier", Napi::Function::New(env, MpiBarrier));
  exports.Set("mpiAbort", Napi::Function::New(env, MpiAbort));
  exports.Set("mpiFinalize", Napi::Function::New(env, MpiFinalize));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(saekit_native, Init)
