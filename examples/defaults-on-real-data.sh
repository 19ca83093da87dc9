#!/usr/bin/env bash
# Issue 14's check of the defaults on real activations: cache all of stories260K's layer-2
# residual stream over tinyshakespeare (683,438 rows, d = 64), then train with nothing but a
# token budget. The trainer reserves the folder's last 65,536 rows for the held-out evaluation,
# fits the schedule to the 617,902 rows left, uses 16·d latents and a shuffle buffer.
# EXPERIMENTS.md ("Defaults on real activations") has the result: held-out FVU 0.104.
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/defaults-on-real-data}
mkdir -p "$out"
[ -f "$out/acts/manifest.json" ] || saekit extract --model "$model" --corpus "$corpus" --layer 2 --site resid_post \
  --out "$out/acts" $( [ -d "$out/acts" ] && echo --resume )
[ -f "$out/sae/sae.safetensors" ] || saekit train --data "$out/acts" --tokens 1M --out "$out/sae" \
  $( [ -d "$out/sae/checkpoints" ] && echo --resume )
node -e "const e = require('$out/sae/eval.json'); console.log('held-out FVU', e.fvu.toFixed(4), e.fvu < 0.2 ? '(< 0.2: ok)' : '(>= 0.2: FAILED)'); process.exit(e.fvu < 0.2 ? 0 : 1)"
