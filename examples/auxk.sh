#!/usr/bin/env bash
# The AuxK study on real activations: stories260K's layer-2 residual stream over
# tinyshakespeare (683,438 rows, d = 64), TopK with 8,192 latents (128·d) and k = 8 at 1×, 2×
# and 4× the default learning rate, each with and without AuxK (examples/auxk.ts).
# EXPERIMENTS.md ("AuxK") has the result.
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/auxk}
mkdir -p "$out"
[ -f "$out/acts/manifest.json" ] || saekit extract --model "$model" --corpus "$corpus" --layer 2 --site resid_post \
  --out "$out/acts" $( [ -d "$out/acts" ] && echo --resume )
cd "$here" && npx tsx examples/auxk.ts --data "$out/acts" --out "$out"
# the dead window (EXPERIMENTS.md, "The dead window"): 2× the rate, three windows, AuxK off,
# on at k_aux = d/2 and on at k_aux = k
npx tsx examples/auxk.ts --data "$out/acts" --out "$out/window" --lr-scales 2 --dead-tokens 25000,100000,150000 --k-aux off,default,8
