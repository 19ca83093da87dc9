/** Script shared by the viewer's and the dashboard's pages: HTML escaping and number formatting
 *  (integers with thousands separators, very small or large values in exponent form). */
export const PAGE_HELPERS = `
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const fmt = (v, d = 4) => {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return esc(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(d);
};`;
