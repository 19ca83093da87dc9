// MPI for data-parallel training (docs/design.md §3.4): Open MPI's collectives, called from the
// addon when it is built with SAEKIT_MPI (Debian libopenmpi-dev). The sums run in rank order
// (a non-commutative user operation, which MPI must apply in ascending rank order), so every
// rank gets the same bits and repeated runs with the same number of ranks give the same bits.
#include "comm.h"

#ifdef SAEKIT_MPI
// the C API only (Open MPI's C++ bindings are deprecated and warn)
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace saekit {
namespace {

template <typename T>
void addInOrder(void* in, void* inout, int* len, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  // MPI passes the lower ranks' partial result as `in`: inout = in + inout keeps rank order
  for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

MPI_Op opF32 = MPI_OP_NULL, opF64 = MPI_OP_NULL;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string("MPI ") + what + " failed: " + std::string(msg, len));
}

}  // namespace

bool mpiAvailable() { return true; }

void mpiInit(int* rank, int* size) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Op_create(&addInOrder<float>, 0, &opF32);
    MPI_Op_create(&addInOrder<double>, 0, &opF64);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
}

void mpiSumF32(float* buf, int64_t len) {
  // in chunks: MPI counts are int
  for (int64_t o = 0; o < len; o += 1 << 28) {
    const int n = (int)std::min<int64_t>(len - o, 1 << 28);
    check(MPI_Allreduce(MPI_IN_PLACE, buf + o, n, MPI_FLOAT, opF32, MPI_COMM_WORLD), "allreduce");
  }
}

void mpiSumF64(double* buf, int64_t len) {
  for (int64_t o = 0; o < len; o += 1 << 27) {
    const int n = (int)std::min<int64_t>(len - o, 1 << 27);
    check(MPI_Allreduce(MPI_IN_PLACE, buf + o, n, MPI_DOUBLE, opF64, MPI_COMM_WORLD), "allreduce");
  }
}

void mpiAllgather(const void* src, void* dst, int64_t bytes) {
  if (bytes > INT32_MAX) throw std::runtime_error("MPI allgather: more than 2 GiB per rank");
  check(MPI_Allgather(src, (int)bytes, MPI_BYTE, dst, (int)bytes, MPI_BYTE, MPI_COMM_WORLD), "allgather");
}

void mpiBarrier() { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

void mpiAbort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void mpiFinalize() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

}  // namespace saekit

#else

#include <stdexcept>

namespace saekit {
bool mpiAvailable() { return false; }
void mpiInit(int*, int*) { throw std::runtime_error("the addon was built without MPI (install libopenmpi-dev openmpi-bin and run npm run build:native)"); }
void mpiSumF32(float*, int64_t) { throw std::runtime_error("no MPI"); }
void mpiSumF64(double*, int64_t) { throw std::runtime_error("no MPI"); }
void mpiAllgather(const void*, void*, int64_t) { throw std::runtime_error("no MPI"); }
void mpiBarrier() {}
void mpiAbort(int) {}
void mpiFinalize() {}
}  // namespace saekit

#endif
