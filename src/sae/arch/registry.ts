/**
 * The architectures saekit trains, by name. Adding one is a file under src/sae/arch/ and a
 * line here (docs/design.md §2.3).
 */
import { batchtopk } from './batchtopk.js';
import { clt } from './clt.js';
import { jumprelu } from './jumprelu.js';
import { matryoshka } from './matryoshka.js';
import { relu } from './relu.js';
import { topk } from './topk.js';
import type { Architecture } from './types.js';
import { vae } from './vae.js';

const ALL: Architecture[] = [topk, batchtopk, matryoshka, jumprelu, relu, vae, clt];

export const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map(ALL.map((a) => [a.name, a]));
export const ARCH_NAMES: readonly string[] = ALL.map((a) => a.name);

/** The architecture of that name; `where` names the file or flag for the error. */
export function architecture(name: string, where = '--arch'): Architecture {
  const a = ARCHITECTURES.get(name);
  if (!a) throw new Error(`${where}: unknown architecture ${JSON.stringify(name)} (expected one of ${ARCH_NAMES.join(', ')})`);
  return a;
}
