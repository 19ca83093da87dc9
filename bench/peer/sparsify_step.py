"""
The speed of one TopK training step in PyTorch as EleutherAI sparsify's trainer takes it
(the transcription in sparsify_loop.py: fused encoder with the sparse backward, embedding-bag
decoder, FVU loss, the decoder gradient made orthogonal to its rows, Adam, unit decoder rows),
AuxK off, on random rows of the given shape. Run by `npm run bench -- --peer`
(bench/peer-step.ts) beside saekit's step at the same shapes.

Prints one JSON line: tokens/s (the best of --reps steps after one warm-up step), the seconds of
that step, and the torch build (its version, threads and BLAS).
Usage: python3 sparsify_step.py --d D --latents N --k K --batch B [--reps 3]
sparsify's trainer wraps its forward in torch.autocast("cuda", bfloat16,
enabled=torch.cuda.is_bf16_supported()): on a CPU it trains in float32, as here.
"""
import argparse
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sparsify_loop import TopKCoder  # noqa: E402


def blas_of_torch():
    """The BLAS torch calls for float32 matmul: its build setting, and the library the process
    has mapped (Debian's torch links the generic libblas.so.3, an alternative)."""
    info = re.search(r"BLAS_INFO=([^,]*)", torch.__config__.show())
    mapped = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if re.search(r"lib(open)?blas|libmkl|libdnnl|libblis", path):
                    mapped.add(os.path.realpath(path))
    except OSError:
        pass
    return {"blas_info": info.group(1) if info else "?", "mapped": sorted(mapped)}


def main():
    ap = argparse.ArgumentParser()
    for name in ["d", "latents", "k", "batch"]:
        ap.add_argument(f"--{name}", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    sae = TopKCoder(a.d, a.latents, a.k)
    opt = torch.optim.Adam(sae.parameters(), lr=2e-4 / (a.latents / 2**14) ** 0.5)
    x = torch.randn(a.batch, a.d)
    sae.b_dec.data = x.mean(0)

    def step():
        sae.unit_decoder()
        fvu, _aux, _acts, _idx = sae(x)
        fvu.backward()
        sae.drop_parallel_gradient()
        opt.step()
        opt.zero_grad()

    step()
    best = float("inf")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"tokens_per_s": a.batch / best, "step_s": best, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), **blas_of_torch()}))


if __name__ == "__main__":
    main()
