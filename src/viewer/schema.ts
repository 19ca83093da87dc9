/** The viewer database: one row per latent, its top and interval examples, and a token → latent index. */
export const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE latents (
  id INTEGER PRIMARY KEY,
  density REAL NOT NULL, count INTEGER NOT NULL, mean_act REAL NOT NULL, max_act REAL NOT NULL,
  q50 REAL, q90 REAL, q99 REAL,
  hist TEXT NOT NULL,            -- 20 bins of activation from 0 to max_act
  neighbors TEXT NOT NULL,       -- [{id, cos}] by decoder cosine
  opposing_id INTEGER, opposing_cos REAL,
  truth_id INTEGER, truth_cos REAL,
  logits_top TEXT, logits_bottom TEXT,   -- [{token, value}]
  logit_hist TEXT,               -- {lo, hi, counts[20]}: the logit effect on every vocabulary token
  intervals TEXT,                -- [{lo, hi, share}] x 10: (0, max] in equal widths, highest first, and the share of activations in each
  top_token TEXT NOT NULL
);
CREATE INDEX latents_density ON latents (density);
CREATE INDEX latents_max ON latents (max_act);
-- section -1: the top examples; 0..9: examples drawn from the activation intervals (0 the highest),
-- ranked within the section
CREATE TABLE examples (
  latent INTEGER NOT NULL, section INTEGER NOT NULL DEFAULT -1, rank INTEGER NOT NULL, act REAL NOT NULL, row INTEGER NOT NULL,
  tokens TEXT NOT NULL, acts TEXT NOT NULL, focus INTEGER NOT NULL,
  PRIMARY KEY (latent, section, rank)
);
CREATE TABLE latent_tokens (token TEXT NOT NULL, latent INTEGER NOT NULL, PRIMARY KEY (token, latent));
`;
