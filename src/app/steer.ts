/**
 * Interventions through an SAE at its site (`saekit generate --sae`, the viewer's steering):
 * steer adds scale × the latent's decoder row to the site's activations at every position;
 * clamp sets the latent's activation to a value by adding (value − a) × its decoder row, where a
 * is what the SAE reads there (the reconstruction error and every other latent stay as they
 * were); ablate clamps to 0. Only rows at the SAE's layer and site change.
 */
import type { Backend } from '../compute/backend.js';
import { SITES, type Hook, type Site } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import { saeOrigin } from './evaluate.js';

export interface Interventions {
  steer: Map<number, number>;
  clamp: Map<number, number>;
}

export const noInterventions = (): Interventions => ({ steer: new Map(), clamp: new Map() });

/** Parses --steer/--clamp values "ID=NUMBER[,ID=NUMBER...]" (repeatable) and --ablate "ID[,ID]". */
export function parseInterventions(o: { steer?: string[]; clamp?: string[]; ablate?: string[] }, n: number): Interventions {
  const out = noInterventions();
  const id = (flag: string, s: string): number => {
    if (!/^\d+$/.test(s) || Number(s) >= n) throw new Error(`${flag}: latent ${JSON.stringify(s)} is not an id from 0 to ${n - 1}`);
    return Number(s);
  };
  const pairs = (flag: string, values: string[] | undefined, into: Map<number, number>): void => {
    for (const part of (values ?? []).flatMap((v) => v.split(',')).filter(Boolean)) {
      const m = /^([^=]+)=(.+)$/.exec(part.trim());
      const value = m ? Number(m[2]) : NaN;
      if (!m || !Number.isFinite(value)) throw new Error(`${flag}: expected LATENT=NUMBER, got ${JSON.stringify(part)}`);
      into.set(id(flag, m[1]!.trim()), value);
    }
  };
  pairs('--steer', o.steer, out.steer);
  pairs('--clamp', o.clamp, out.clamp);
  for (const part of (o.ablate ?? []).flatMap((v) => v.split(',')).filter(Boolean)) out.clamp.set(id('--ablate', part.trim()), 0);
  return out;
}

/** The layer and site an SAE reads, from its record; flags win. */
export function saeSiteOf(sae: Sae, given: { layer?: number; site?: Site } = {}): { layer: number; site: Site } {
  const o = saeOrigin(sae);
  const layer = given.layer ?? o?.layer, site = given.site ?? (o?.site as Site | undefined);
  if (layer === undefined || !site || !SITES.includes(site)) throw new Error('the SAE does not say which layer and site it reads; pass --layer and --site');
  return { layer, site };
}

/** A hook applying the interventions at (layer, site). */
export function interventionHook(be: Backend, sae: Sae, at: { layer: number; site: Site }, iv: Interventions): Hook {
  const { d } = sae.cfg;
  if (sae.cfg.dOut !== undefined) throw new Error('interventions need an SAE that writes where it reads; this is a transcoder');
  const W = sae.params.W_dec;
  const clamped = [...iv.clamp.keys()];
  return (layer, site, x, rows) => {
    if (layer !== at.layer || site !== at.site) return;
    if (x.length < rows * d) throw new Error(`the SAE reads width ${d}, the model's ${site} has ${x.length / rows}`);
    let acts: Float32Array | null = null;
    if (clamped.length) {
      acts = new Float32Array(rows * clamped.length);
      const { z } = encode(be, sae, x.subarray(0, rows * d), rows);
      for (let r = 0; r < rows; r++) {
        for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) {
          const j = clamped.indexOf(z.idx[e]!);
          if (j >= 0) acts[r * clamped.length + j] = z.vals[e]!;
        }
      }
    }
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * d, (r + 1) * d);
      for (const [i, scale] of iv.steer) for (let c = 0; c < d; c++) row[c]! += scale * W[i * d + c]!;
      clamped.forEach((i, j) => {
        const delta = iv.clamp.get(i)! - acts![r * clamped.length + j]!;
        if (delta !== 0) for (let c = 0; c < d; c++) row[c]! += delta * W[i * d + c]!;
      });
    }
  };
}
