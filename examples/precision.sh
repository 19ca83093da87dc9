#!/usr/bin/env bash
# --precision bf16 against f32 on a real model: the same TopK SAE (4,096 latents, k=16) trained
# twice on stories260K's layer-2 residual stream over tinyshakespeare (560k tokens, the same
# shards, shuffle and seed), then each evaluated on the corpus's last (held-out) contexts and
# spliced into the model: FVU, L0, dead fraction, CE recovered, KL. Each SAE encodes at its own
# precision (cfg.json). Needs a CPU with AVX512_BF16 or AMX, else the bf16 run falls back to f32
# and says so.
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/precision}
mkdir -p "$out"
[ -f "$out/acts/manifest.json" ] || saekit extract --model "$model" --corpus "$corpus" --layer 2 --site resid_post \
  --ctx 256 --tokens 560k --out "$out/acts" $( [ -d "$out/acts" ] && echo --resume )
for p in f32 bf16; do
  [ -f "$out/$p/sae.safetensors" ] || saekit train --data "$out/acts" --latents 4096 --k 16 --tokens 560k --batch 1024 \
    --shuffle 65536 --precision $p --out "$out/$p" $( [ -d "$out/$p/checkpoints" ] && echo --resume )
  saekit eval "$out/$p" --model "$model" --contexts 64 --tokens 65536 --json > "$out/$p/eval-model.json"
done
node -e '
const [a, b] = ["f32", "bf16"].map((p) => require(process.argv[1] + "/" + p + "/eval-model.json"));
const row = (k, f) => console.log(`| ${k} | ${f(a)} | ${f(b)} |`);
console.log("| measure | f32 | bf16 |\n|---|---|---|");
row("FVU (65,536 held-out tokens)", (e) => e.fvu.toFixed(4));
row("L0", (e) => e.l0.toFixed(2));
row("never fired (held-out)", (e) => (100 * e.never_fired_fraction).toFixed(2) + "%");
row("CE clean / spliced / zero-ablated", (e) => [e.downstream.ce_clean, e.downstream.ce_spliced, e.downstream.ce_zero].map((v) => v.toFixed(4)).join(" / "));
row("fraction of CE recovered", (e) => (100 * e.downstream.ce_recovered).toFixed(1) + "%");
row("KL(clean ‖ spliced)", (e) => e.downstream.kl_spliced.toFixed(4));
' "$out"
