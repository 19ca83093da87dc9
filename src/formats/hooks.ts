/**
 * Hook points by TransformerLens's names (what SAELens records as `hook_name`) and saekit's
 * (layer, site). saekit's mlp_in is the normalized MLP input, TransformerLens's
 * `blocks.L.ln2.hook_normalized`.
 */
import { SITES, type Site } from '../lm/transformer.js';

const TL_SITE: Record<Site, string> = {
  resid_pre: 'hook_resid_pre', attn_out: 'hook_attn_out', resid_mid: 'hook_resid_mid',
  mlp_in: 'ln2.hook_normalized', mlp_out: 'hook_mlp_out', resid_post: 'hook_resid_post',
};

/** `blocks.L.<hook>` of a layer and site. */
export const hookName = (layer: number, site: Site): string => `blocks.${layer}.${TL_SITE[site]}`;

/** The layer and site of a TransformerLens hook name, or null where saekit has no such site
 *  (attention's hook_z, embeddings, …). */
export function siteOfHook(name: string): { layer: number; site: Site } | null {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (!m) return null;
  const site = SITES.find((s) => TL_SITE[s] === m[2]);
  return site ? { layer: Number(m[1]), site } : null;
}

/** sparsify's hookpoint folder names: `layers.N` is block N's output (resid_post), `layers.N.mlp`
 *  its MLP's output. */
export function siteOfSparsifyHook(name: string): { layer: number; site: Site } | null {
  const m = /^(?:.*\.)?layers[._](\d+)(\.mlp)?$/.exec(name);
  return m ? { layer: Number(m[1]), site: m[2] ? 'mlp_out' : 'resid_post' } : null;
}

/** TransformerLens's name of a site within a block (`ln2.hook_normalized` for mlp_in). */
export const hookSuffix = (site: Site): string => TL_SITE[site];
