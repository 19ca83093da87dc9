/* The GEMM floor: the same cblas_sgemm saekit calls, from plain C. Prints seconds per call.
 * usage: gemm M N K REPS   (C[M,N] = A[M,K] · B[N,K]^T, row-major, like the SAE encoder) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc != 5) { fprintf(stderr, "usage: gemm M N K REPS\n"); return 2; }
  const long m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]), reps = atol(argv[4]);
  float* a = malloc(sizeof(float) * m * k);
  float* b = malloc(sizeof(float) * n * k);
  float* c = malloc(sizeof(float) * m * n);
  for (long i = 0; i < m * k; i++) a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (long i = 0; i < n * k; i++) b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  for (long i = 0; i < m * n; i++) c[i] = 0.0f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
  double best = 1e30;
  for (long r = 0; r < reps; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    double t = now() - t0;
    if (t < best) best = t;
  }
  printf("%.6f\n", best);
  return 0;
}
