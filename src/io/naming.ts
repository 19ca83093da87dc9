/**
 * One naming convention on disk: JSON files saekit writes (cfg.json, config.json, eval.json,
 * manifest.json, trainer state) use snake_case keys, as the Python tools it exchanges files
 * with do; TypeScript code uses camelCase. Readers accept both, so folders written by saekit
 * 0.1 (camelCase cfg.json and config.json) still load.
 */

export const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
export const camel = (k: string): string => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Top-level keys to snake_case (values unchanged). */
export function toDiskKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v]));
}

/** Top-level keys to camelCase (camelCase keys pass unchanged). */
export function fromDiskKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v]));
}
