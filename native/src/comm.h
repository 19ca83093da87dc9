// Communication between the ranks of an MPI job (mpi.cc): stubs that throw when the addon is
// built without MPI. Sums are in rank order, identical on every rank.
#pragma once
#include <cstdint>

namespace saekit {

bool mpiAvailable();
void mpiInit(int* rank, int* size);
void mpiSumF32(float* buf, int64_t len);
void mpiSumF64(double* buf, int64_t len);
// every rank's `bytes` bytes of src, in rank order, into dst (size × bytes)
void mpiAllgather(const void* src, void* dst, int64_t bytes);
void mpiBarrier();
void mpiAbort(int code);
void mpiFinalize();

}  // namespace saekit
