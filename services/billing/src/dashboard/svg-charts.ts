/**
 * Small, dependency-free SVG charts rendered on the server: no script, no CDN, the same markup in
 * every browser. Every mark carries its value in `data-*` attributes and a `<title>` tooltip, so
 * the page can be checked against the JSON API.
 */

/** Escapes text for HTML and SVG. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One named value of a chart. */
export interface Part {
  label: string;
  value: number;
  color: string;
}

/** Palette of the cost components, shared by every chart and legend. */
export const COMPONENT_COLORS = { infrastructure: '#2f6fdf', training: '#e08a1e', operations: '#2aa876' } as const;

const f1 = (v: number) => v.toFixed(1);

/** A donut of shares; each slice is a `path.slice` with `data-label`, `data-value`, `data-share`. */
export function donut(title: string, parts: Part[], format: (v: number) => string, size = 220): string {
  const total = parts.reduce((a, p) => a + p.value, 0);
  const r = size / 2 - 10;
  const inner = r * 0.58;
  const c = size / 2;
  let angle = -Math.PI / 2;
  const slices = parts.map((p) => {
    const share = total > 0 ? p.value / total : 0;
    // A full circle as one arc degenerates; stop just short of it.
    const sweep = Math.min(share * 2 * Math.PI, 2 * Math.PI - 1e-4);
    const [a0, a1] = [angle, angle + sweep];
    angle = a1;
    const large = sweep > Math.PI ? 1 : 0;
    const pt = (rad: number, a: number) => `${f1(c + rad * Math.cos(a))} ${f1(c + rad * Math.sin(a))}`;
    const d = `M ${pt(r, a0)} A ${f1(r)} ${f1(r)} 0 ${large} 1 ${pt(r, a1)} L ${pt(inner, a1)} A ${f1(inner)} ${f1(inner)} 0 ${large} 0 ${pt(inner, a0)} Z`;
    return `<path class="slice" d="${share > 0 ? d : ''}" fill="${p.color}" data-label="${esc(p.label)}" data-value="${p.value}" data-share="${share.toFixed(6)}"><title>${esc(p.label)}: ${esc(format(p.value))} (${(share * 100).toFixed(1)}%)</title></path>`;
  });
  return `<svg class="chart donut" role="img" aria-label="${esc(title)}" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}">${slices.join('')}<text x="${c}" y="${c + 5}" text-anchor="middle" class="donut-total">${esc(format(total).split(' ')[0]!)}</text></svg>`;
}

/** Vertical stacked bars, one per category (`g.bar` with `data-key`, `data-total`), segments per series. */
export function stackedBars(title: string, categories: Array<{ key: string; parts: Part[] }>, format: (v: number) => string, width = 640, height = 240): string {
  const pad = { left: 96, right: 8, top: 10, bottom: 36 };
  const max = Math.max(1, ...categories.map((c) => c.parts.reduce((a, p) => a + p.value, 0)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const step = categories.length > 0 ? plotW / categories.length : plotW;
  const barW = Math.max(2, Math.min(48, step * 0.7));
  const bars = categories.map((cat, i) => {
    let y = pad.top + plotH;
    const total = cat.parts.reduce((a, p) => a + p.value, 0);
    const x = pad.left + i * step + (step - barW) / 2;
    const segs = cat.parts.map((p) => {
      const h = (p.value / max) * plotH;
      y -= h;
      return `<rect x="${f1(x)}" y="${f1(y)}" width="${f1(barW)}" height="${f1(h)}" fill="${p.color}" data-series="${esc(p.label)}" data-value="${p.value}"><title>${esc(cat.key)} ${esc(p.label)}: ${esc(format(p.value))}</title></rect>`;
    });
    const label = categories.length <= 16 || i % Math.ceil(categories.length / 16) === 0 ? `<text x="${f1(x + barW / 2)}" y="${height - pad.bottom + 14}" text-anchor="middle" class="tick">${esc(cat.key.slice(5))}</text>` : '';
    return `<g class="bar" data-key="${esc(cat.key)}" data-total="${total}">${segs.join('')}${label}</g>`;
  });
  const axis = [0, 0.5, 1].map((t) => {
    const y = pad.top + plotH - t * plotH;
    return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${f1(y)}" y2="${f1(y)}" class="grid"/><text x="${pad.left - 6}" y="${f1(y + 4)}" text-anchor="end" class="tick">${esc(format(max * t))}</text>`;
  });
  return `<svg class="chart bars" role="img" aria-label="${esc(title)}" viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="xMinYMin meet">${axis.join('')}${bars.join('')}</svg>`;
}

/** Horizontal bars, one per row (`g.hbar` with `data-key`, `data-value`), optionally against a limit. */
export function horizontalBars(
  title: string,
  rows: Array<{ key: string; label: string; value: number; limit?: number; color?: string; note?: string }>,
  format: (v: number) => string,
  width = 640,
): string {
  const rowH = 26;
  const labelW = 170;
  const height = Math.max(rowH, rows.length * rowH) + 8;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.value, r.limit ?? 0)));
  const plotW = width - labelW - 210;
  const marks = rows.map((r, i) => {
    const y = 4 + i * rowH;
    const w = (r.value / max) * plotW;
    const limit = r.limit ? `<line x1="${f1(labelW + (r.limit / max) * plotW)}" x2="${f1(labelW + (r.limit / max) * plotW)}" y1="${y}" y2="${y + rowH - 6}" class="limit" data-limit="${r.limit}"/>` : '';
    const over = r.limit && r.value > r.limit ? ' over' : '';
    return `<g class="hbar${over}" data-key="${esc(r.key)}" data-value="${r.value}"${r.limit ? ` data-limit="${r.limit}"` : ''}><text x="${labelW - 8}" y="${y + 15}" text-anchor="end" class="tick">${esc(r.label)}</text><rect x="${labelW}" y="${y}" width="${f1(Math.max(w, r.value > 0 ? 1 : 0))}" height="${rowH - 6}" fill="${r.color ?? '#2f6fdf'}"><title>${esc(r.label)}: ${esc(format(r.value))}</title></rect>${limit}<text x="${f1(labelW + Math.max(w, r.limit ? (r.limit / max) * plotW : 0) + 6)}" y="${y + 15}" class="value">${esc(r.note ?? format(r.value))}</text></g>`;
  });
  return `<svg class="chart hbars" role="img" aria-label="${esc(title)}" viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="xMinYMin meet">${marks.join('')}</svg>`;
}

/** A legend for parts. */
export function legend(parts: Array<{ label: string; color: string }>): string {
  return `<ul class="legend">${parts.map((p) => `<li><span class="swatch" style="background:${p.color}"></span>${esc(p.label)}</li>`).join('')}</ul>`;
}
