#!/usr/bin/env bash
# End to end on a real model: cache stories260K's layer-2 residual stream over tinyshakespeare,
# train a TopK SAE on the shards, then evaluate it on the corpus's last (held-out) contexts,
# spliced into the model: FVU, L0, dead fraction, CE clean / spliced / zero-ablated, KL.
# Token arithmetic: 2,708 contexts of 256 tokens (693k non-BOS rows); the first 560k rows train,
# the evaluation reads the last 257 contexts (65,536 rows), so the two never overlap.
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/lm-end-to-end}
mkdir -p "$out"
[ -f "$out/acts/manifest.json" ] || saekit extract --model "$model" --corpus "$corpus" --layer 2 --site resid_post \
  --ctx 256 --tokens 560k --out "$out/acts" $( [ -d "$out/acts" ] && echo --resume )
[ -f "$out/sae/sae.safetensors" ] || saekit train --data "$out/acts" --latents 1024 --k 16 --tokens 560k --batch 1024 \
  --shuffle 65536 --out "$out/sae" $( [ -d "$out/sae/checkpoints" ] && echo --resume )
saekit eval "$out/sae" --model "$model" --contexts 64 --tokens 65536 --save
