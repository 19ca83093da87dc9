#!/usr/bin/env bash
# A cross-layer transcoder over all five layers of stories260K (`--arch clt`, issue 19): the MLP
# inputs of every layer side by side (lm:…,stack=1), 1,024 latents per layer, k = 16 per layer,
# each latent writing to its own layer's MLP output and every later one; 300k tokens, the same
# settings as the per-layer transcoders of examples/layers.sh. Then held-out FVU of each layer,
# all five MLPs replaced at once (CE recovered, KL), the attribution graph of the same prompt
# with three interventions, circuit-tracer's layout, and the viewer's graph page
# (saekit serve OUT/clt --graph OUT/clt-graph.json, then open /graph).
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/clt}
mkdir -p "$out"
spec="lm:model=$model,corpus=$corpus,layer=0,site=mlp_in,targetSite=mlp_out,ctx=256,stack=1"
[ -f "$out/clt/sae.safetensors" ] || saekit train --data "$spec" --arch clt --clt-layers 5 --transcode \
  --latents 5120 --k 16 --tokens 300k --batch 1024 --shuffle 65536 --eval-tokens 16384 --out "$out/clt" \
  $( [ -d "$out/clt/checkpoints" ] && echo --resume )
saekit eval "$out/clt" --model "$model" --contexts 32 --json > "$out/clt-eval.json"
node -e '
const r = require(process.argv[1]), d = r.downstream, f = r.fvu_layers;
console.log(`held-out FVU of each layer: ${f.map((v) => v.toFixed(4)).join(", ")} (pooled ${r.fvu.toFixed(4)}, L0 ${r.l0.toFixed(1)})`);
console.log(`all five MLPs replaced: CE clean ${d.ce_clean.toFixed(4)}, spliced ${d.ce_spliced.toFixed(4)}, zeroed ${d.ce_zero.toFixed(4)}; CE recovered ${(100 * d.ce_recovered).toFixed(1)}%; KL ${d.kl_spliced.toFixed(4)} (zeroed ${d.kl_zero.toFixed(4)}); FVU in the spliced model ${d.sites.map((s) => s.fvu.toFixed(3)).join(", ")}`);
' "$out/clt-eval.json"
prompt="Once upon a time, there was a little dog named Max. Max liked to"
for node in 0_267_22 2_154_22 4_202_22; do
  saekit attribute --model "$model" --transcoders "$out/clt" --prompt "$prompt" --keep 0.5 --ablate $node \
    --out "$out/clt-graph.json" --svg "$out/clt-graph.svg"
done
rm -rf "$out/circuit-tracer"
saekit export "$out/clt" --format circuit-tracer --out "$out/circuit-tracer"
saekit index "$out/clt" --tokens 16384
echo "the graph page: saekit serve $out/clt --graph $out/clt-graph.json, then open /graph"
