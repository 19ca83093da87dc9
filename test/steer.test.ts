// Interventions through an SAE at its site on stories260K: steering by a latent whose decoder
// row raises a token's logit raises that token's probability (measured), ablating a latent
// changes only what flows through its site (exactly −a·W_dec[i] there, nothing upstream), and
// bad --steer/--clamp/--ablate values are named.
import { describe, expect, it } from 'vitest';
import { interventionHook, noInterventions, parseInterventions } from '../src/app/steer.js';
import { getBackend } from '../src/compute/backend.js';
import { readLlama2c } from '../src/lm/llama2c.js';
import { KvCache, Transformer, type Hook, type Site } from '../src/lm/transformer.js';
import type { Sae } from '../src/sae/common.js';
import { encode } from '../src/sae/encode.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, sharedPath } from './helpers.js';

const be = getBackend();
const bin = sharedPath('models/stories260K/stories260K.bin');

function randomSae(d: number, n: number): Sae {
  const rng = new Rng(11);
  const W_dec = rng.normals(n * d);
  be.normalizeRows(W_dec, n, d);
  return { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k: 8, multiTopK: false, data: '' }, params: { W_enc: Float32Array.from(W_dec), b_enc: new Float32Array(n), W_dec, b_dec: new Float32Array(d) } };
}

const softmaxAt = (logits: Float32Array, t: number): number => {
  const m = Math.max(...logits);
  const z = logits.reduce((a, v) => a + Math.exp(v - m), 0);
  return Math.exp(logits[t]! - m) / z;
};

describe.skipIf(!bin)('interventions on stories260K', () => {
  const { config, weights } = bin ? readLlama2c(bin) : ({} as ReturnType<typeof readLlama2c>);
  const model = bin ? new Transformer(config, weights, be, bin) : (null as unknown as Transformer);
  const tokens = Int32Array.from([1, 403, 407, 261, 378, 432, 383, 286]);
  const lastLogits = (hook?: Hook): Float32Array => {
    const h = model.forward(tokens, 1, { cache: new KvCache(config, 1, tokens.length), ...(hook ? { hook } : {}) })!;
    return model.logits(h, tokens.length - 1, 1);
  };

  it('steering by the latent with the largest logit effect on a token raises that token\'s probability', () => {
    const d = config.dim, n = 128, sae = randomSae(d, n);
    // logit effect of latent i on token t: (normF ⊙ W_dec[i]) · head[t]
    let best = { i: 0, t: 0, v: -Infinity };
    for (let i = 0; i < n; i++) for (let t = 0; t < config.vocabSize; t++) {
      let v = 0;
      for (let c = 0; c < d; c++) v += weights.normF[c]! * sae.params.W_dec[i * d + c]! * weights.head[t * d + c]!;
      if (v > best.v) best = { i, t, v };
    }
    const at = { layer: config.nLayers - 1, site: 'resid_post' as Site };
    const p0 = softmaxAt(lastLogits(), best.t);
    const ps = [2, 8, 32].map((scale) => {
      const iv = noInterventions();
      iv.steer.set(best.i, scale);
      return softmaxAt(lastLogits(interventionHook(be, sae, at, iv)), best.t);
    });
    console.log(`steer latent ${best.i} (logit effect ${best.v.toFixed(3)} on token ${best.t}): p = ${p0.toExponential(3)} → ${ps.map((p) => p.toExponential(3)).join(', ')} at scales 2, 8, 32`);
    expect(ps[0]!).toBeGreaterThan(p0);
    expect(ps[1]!).toBeGreaterThan(ps[0]!);
    expect(ps[2]!).toBeGreaterThan(0.5);
    // the opposite sign lowers it
    const iv = noInterventions();
    iv.steer.set(best.i, -8);
    expect(softmaxAt(lastLogits(interventionHook(be, sae, at, iv)), best.t)).toBeLessThan(p0);
  });

  it('ablating a latent changes only what flows through its site: nothing upstream, exactly −a·W_dec[i] at the site', () => {
    const d = config.dim, sae = randomSae(d, 64), at = { layer: 2, site: 'resid_post' as Site };
    const record = (inner?: Hook) => {
      const seen = new Map<string, Float32Array>();
      model.forward(tokens, 1, { hook: (l, site, x, rows) => { inner?.(l, site, x, rows); seen.set(`${l}.${site}`, x.slice(0, rows * d)); } });
      return seen;
    };
    const clean = record();
    const site = clean.get('2.resid_post')!;
    const { z } = encode(be, sae, site, tokens.length);
    // the latent firing most often on these tokens
    const counts = new Map<number, number>();
    for (const i of z.idx) counts.set(i, (counts.get(i) ?? 0) + 1);
    const latent = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const ablated = record(interventionHook(be, sae, at, parseInterventions({ ablate: [String(latent)] }, sae.cfg.n)));
    for (const [key, x] of clean) {
      const [l, s] = key.split('.');
      const upstream = Number(l) < 2 || (Number(l) === 2 && s !== 'resid_post');
      if (upstream) expect(Array.from(ablated.get(key)!), key).toEqual(Array.from(x));
    }
    const want = Float32Array.from(site);
    for (let r = 0; r < tokens.length; r++) {
      for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) {
        if (z.idx[e] !== latent) continue;
        for (let c = 0; c < d; c++) want[r * d + c]! -= z.vals[e]! * sae.params.W_dec[latent * d + c]!;
      }
    }
    expectClose(ablated.get('2.resid_post')!, want, { rtol: 1e-5, atol: 1e-5, label: 'ablated site' });
    expect(Array.from(ablated.get('3.resid_post')!)).not.toEqual(Array.from(clean.get('3.resid_post')!));
  });
});

describe('intervention flags', () => {
  it('parse LATENT=NUMBER lists and name the flag and value when wrong', () => {
    const iv = parseInterventions({ steer: ['3=2.5,7=-1'], clamp: ['9=4'], ablate: ['1,2'] }, 10);
    expect([...iv.steer]).toEqual([[3, 2.5], [7, -1]]);
    expect([...iv.clamp]).toEqual([[9, 4], [1, 0], [2, 0]]);
    expect(() => parseInterventions({ steer: ['3'] }, 10)).toThrow(/--steer: expected LATENT=NUMBER, got "3"/);
    expect(() => parseInterventions({ clamp: ['12=1'] }, 10)).toThrow(/--clamp: latent "12" is not an id from 0 to 9/);
    expect(() => parseInterventions({ ablate: ['x'] }, 10)).toThrow(/--ablate: latent "x"/);
  });
});
