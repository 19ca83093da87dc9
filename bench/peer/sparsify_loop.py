"""
A transcription of EleutherAI sparsify's TopK training loop (sparsify/trainer.py and
sparsify/sparse_coder.py, as of its 2025 main branch) for saekit's peer comparison
(bench/peer-compare.ts). Written for saekit from the published description of that code, not
copied: the maths and the order of operations are sparsify's, the plumbing is ours.

What is sparsify's, step by step:
  - encoder = nn.Linear(d, n) with its default init (weights uniform in ±1/sqrt(d)), bias zeroed;
    W_dec = a copy of the encoder's weight with unit rows; b_dec = 0, then, on the first batch,
    the batch's mean.
  - every step: W_dec's rows renormalized; pre = ReLU((x − b_dec)·W_encᵀ + b_enc); the top k
    of each row kept; x̂ = Σ top_acts · W_dec[top_idx] + b_dec; loss = FVU = Σ(x − x̂)² / Σ(x − mean_batch(x))²
    (+ auxk_alpha · AuxK when asked; sparsify's default is 0);
  - the encoder's backward is sparsify's fused one: gradients reach only the kept entries,
    without ReLU's mask;
  - the decoder gradient's component along each row removed, then Adam (torch defaults:
    β = (0.9, 0.999), ε = 1e-8), lr 2e-4 / sqrt(n / 2^14) unless given, then the scheduler:
    transformers' get_linear_schedule_with_warmup (linear from 0 over the warm-up steps, then
    linear decay to 0 at the last batch).

Rows arrive on stdin as little-endian float32, `batch` rows of d at a time; the trained SAE is
written as a sparsify folder (cfg.json + sae.safetensors), which saekit imports and evaluates.
Usage: python3 sparsify_loop.py --d D --latents N --k K --batch B --tokens T --out DIR
       [--lr LR] [--warmup-steps 1000] [--auxk-alpha 0] [--dead-tokens 10000000] [--seed 0]
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


class KeptEncoder(torch.autograd.Function):
    """ReLU then the top k of each row; the backward reaches the kept entries only."""

    @staticmethod
    def forward(ctx, x, weight, bias, k):
        pre = F.relu(F.linear(x, weight, bias))
        values, indices = torch.topk(pre, k, dim=-1, sorted=False)
        ctx.save_for_backward(x, weight, indices)
        return values, indices, pre

    @staticmethod
    def backward(ctx, g_values, _g_indices, _g_pre):
        x, weight, indices = ctx.saved_tensors
        g_x = F.embedding_bag(indices, weight, mode="sum", per_sample_weights=g_values)
        g_weight = torch.zeros_like(weight)
        g_weight.index_add_(0, indices.flatten(), (g_values.unsqueeze(2) * x.unsqueeze(1)).reshape(-1, x.shape[1]))
        g_bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
        g_bias.index_add_(0, indices.flatten(), g_values.flatten())
        return g_x, g_weight, g_bias, None


class TopKCoder(torch.nn.Module):
    def __init__(self, d, n, k):
        super().__init__()
        self.k = k
        self.encoder = torch.nn.Linear(d, n)
        self.encoder.bias.data.zero_()
        self.W_dec = torch.nn.Parameter(self.encoder.weight.data.clone())
        self.unit_decoder()
        self.b_dec = torch.nn.Parameter(torch.zeros(d))

    @torch.no_grad()
    def unit_decoder(self):
        eps = torch.finfo(self.W_dec.dtype).eps
        self.W_dec.data /= self.W_dec.data.norm(dim=1, keepdim=True) + eps

    @torch.no_grad()
    def drop_parallel_gradient(self):
        along = (self.W_dec.grad * self.W_dec.data).sum(dim=1, keepdim=True)
        self.W_dec.grad -= along * self.W_dec.data

    def decode(self, acts, indices):
        return F.embedding_bag(indices, self.W_dec, mode="sum", per_sample_weights=acts) + self.b_dec

    def forward(self, x, dead=None):
        acts, indices, pre = KeptEncoder.apply(x - self.b_dec, self.encoder.weight, self.encoder.bias, self.k)
        out = self.decode(acts, indices)
        e = x - out
        total = (x - x.mean(0)).pow(2).sum()
        aux = x.new_tensor(0.0)
        if dead is not None and int(dead.sum()) > 0:
            num_dead = int(dead.sum())
            k_aux = x.shape[1] // 2
            scale = min(num_dead / k_aux, 1.0)
            k_aux = min(k_aux, num_dead)
            masked = torch.where(dead[None], pre, -torch.inf)
            a_acts, a_idx = masked.topk(k_aux, sorted=False)
            aux = scale * (self.decode(a_acts, a_idx) - e.detach()).pow(2).sum() / total
        return e.pow(2).sum() / total, aux, acts, indices


def linear_warmup_decay(warmup, total):
    def factor(step):
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_exact(stream, size):
    buf = bytearray()
    while len(buf) < size:
        chunk = stream.read(size - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def main():
    ap = argparse.ArgumentParser()
    for name, kind, default in [("d", int, None), ("latents", int, None), ("k", int, None), ("batch", int, 4096),
                                ("tokens", int, None), ("lr", float, 0.0), ("warmup-steps", int, 1000),
                                ("auxk-alpha", float, 0.0), ("eps", float, 1e-8), ("decay", int, 1), ("dead-tokens", int, 10_000_000), ("seed", int, 0)]:
        ap.add_argument(f"--{name}", type=kind, default=default, required=default is None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(a.seed)
    sae = TopKCoder(a.d, a.latents, a.k)
    lr = a.lr or 2e-4 / (a.latents / 2**14) ** 0.5
    steps = a.tokens // a.batch
    opt = torch.optim.Adam(sae.parameters(), lr=lr, eps=a.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(a.warmup_steps, steps if a.decay else 10**12))
    since_fired = torch.zeros(a.latents, dtype=torch.long)
    started = time.time()
    for step in range(steps):
        raw = read_exact(sys.stdin.buffer, a.batch * a.d * 4)
        if len(raw) < a.batch * a.d * 4:
            sys.exit(f"sparsify_loop: stdin ended at step {step} of {steps}")
        x = torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(a.batch, a.d).copy())
        if step == 0:
            sae.b_dec.data = x.mean(0)
        sae.unit_decoder()
        dead = since_fired > a.dead_tokens if a.auxk_alpha > 0 else None
        fvu, aux, acts, indices = sae(x, dead)
        (fvu + a.auxk_alpha * aux).backward()
        sae.drop_parallel_gradient()
        opt.step()
        opt.zero_grad()
        sched.step()
        with torch.no_grad():
            since_fired += a.batch
            since_fired[indices.flatten()] = 0
        if step % 100 == 0 or step == steps - 1:
            print(json.dumps({"step": step, "fvu": float(fvu), "seconds": round(time.time() - started, 1)}), flush=True)
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "sae.safetensors"), {
        "encoder.weight": sae.encoder.weight, "encoder.bias": sae.encoder.bias, "W_dec": sae.W_dec, "b_dec": sae.b_dec})
    with open(os.path.join(a.out, "cfg.json"), "w") as f:
        json.dump({"activation": "topk", "expansion_factor": max(1, a.latents // a.d), "normalize_decoder": True,
                   "num_latents": a.latents, "k": a.k, "multi_topk": False, "skip_connection": False,
                   "transcode": False, "d_in": a.d}, f)


if __name__ == "__main__":
    main()
