#!/usr/bin/env bash
# Transcoders at every layer of stories260K in one pass (`train --layers all`): mlp_in → mlp_out,
# 1,024 latents, k = 16, over tinyshakespeare (300k tokens, one model forward per batch for all
# five layers), plain and skip transcoders (--skip), then each folder evaluated on the corpus's
# last (held-out) contexts: every layer's transcoder spliced in alone and all five together
# (the replacement model without error terms): FVU at each site, CE recovered, KL. Then the
# attribution graph of a TinyStories prompt on the skip transcoders (the replacement model with
# error terms, attention and norms frozen) and two interventions checked against it.
source "$(dirname "$0")/stories-env.sh"
out=${1:-$here/runs/layers}
mkdir -p "$out"
spec="lm:model=$model,corpus=$corpus,layer=0,site=mlp_in,targetSite=mlp_out,ctx=256"
for kind in plain skip; do
  [ -f "$out/$kind/layer-4/sae.safetensors" ] || saekit train --data "$spec" --layers all --transcode $( [ $kind = skip ] && echo --skip ) \
    --latents 1024 --k 16 --tokens 300k --batch 1024 --shuffle 65536 --eval-tokens 16384 --out "$out/$kind" \
    $( [ -d "$out/$kind/layer-0/checkpoints" ] && echo --resume )
  saekit eval "$out/$kind" --model "$model" --contexts 32 --json > "$out/$kind/eval-layers.json"
done
node -e '
const [a, b] = ["plain", "skip"].map((k) => require(process.argv[1] + "/" + k + "/eval-layers.json"));
const held = (k, l) => require(process.argv[1] + "/" + k + "/layer-" + l + "/eval.json");
console.log("| layer | FVU plain | FVU skip | KL spliced alone, plain | KL spliced alone, skip |\n|---|---|---|---|---|");
for (let l = 0; l < 5; l++) console.log(`| ${l} | ${held("plain", l).fvu.toFixed(4)} | ${held("skip", l).fvu.toFixed(4)} | ${a.alone[l].downstream.kl_spliced.toFixed(4)} | ${b.alone[l].downstream.kl_spliced.toFixed(4)} |`);
for (const [name, r] of [["plain", a], ["skip", b]]) {
  const t = r.together;
  console.log(`\n${name}, all five spliced: CE clean ${t.ce_clean.toFixed(4)}, spliced ${t.ce_spliced.toFixed(4)}, every MLP zeroed ${t.ce_zero.toFixed(4)} nats; CE recovered ${(100 * t.ce_recovered).toFixed(1)}%; KL spliced ${t.kl_spliced.toFixed(4)}, zeroed ${t.kl_zero.toFixed(4)}; FVU in the spliced model ${t.sites.map((s) => s.fvu.toFixed(3)).join(", ")} (${t.predictions} predictions)`);
}
' "$out"
prompt="Once upon a time, there was a little dog named Max. Max liked to"
for node in 4_60_22 0_449_22; do
  saekit attribute --model "$model" --transcoders "$out/skip" --prompt "$prompt" --keep 0.5 --ablate $node \
    --out "$out/graph.json" --svg "$out/graph.svg"
done
