/**
 * A small SVG line plot for the fleet bench's figures: a few series of
 * (x, y) points on linear axes with round ticks, a legend and a caption.
 * Written here rather than taken from npm: the charting libraries either
 * need a DOM (d3, chart.js, vega) or a headless browser to render to a
 * file, and these plots need about a hundred lines. Output is byte-stable
 * for the same input, so a rerun with the same figures changes nothing.
 */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

export interface Plot {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** A horizontal line marking a target, e.g. p99 ≤ 1,000 ms. */
  target?: { y: number; label: string };
  caption?: string;
}

const W = 720;
const H = 420;
const M = { left: 70, right: 190, top: 40, bottom: 70 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** 1, 2 or 5 times a power of ten: about five ticks between 0 and `max`. */
function step(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
}

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const num = (x: number): string => (Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(Number(x.toPrecision(3))));

export function svgLinePlot(plot: Plot): string {
  const pts = plot.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xMax = Math.max(1, ...pts.map(([x]) => x));
  const yMax = Math.max(1e-9, ...pts.map(([, y]) => y), plot.target?.y ?? 0) * 1.08;
  const xs = step(xMax);
  const ys = step(yMax);
  const xTop = Math.ceil(xMax / xs) * xs;
  const yTop = Math.ceil(yMax / ys) * ys;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number): number => M.left + (x / xTop) * pw;
  const py = (y: number): number => M.top + ph - (y / yTop) * ph;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(plot.title)}</text>`,
  ];
  for (let x = 0; x <= xTop + 1e-9; x += xs) {
    out.push(`<line x1="${f(px(x))}" y1="${M.top}" x2="${f(px(x))}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${f(px(x))}" y="${M.top + ph + 16}" text-anchor="middle">${num(x)}</text>`);
  }
  for (let y = 0; y <= yTop + 1e-9; y += ys) {
    out.push(`<line x1="${M.left}" y1="${f(py(y))}" x2="${M.left + pw}" y2="${f(py(y))}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(py(y) + 4)}" text-anchor="end">${num(y)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 30}" text-anchor="middle">${esc(plot.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">${esc(plot.yLabel)}</text>`,
  );
  if (plot.target) {
    const y = f(py(plot.target.y));
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#999" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${M.left + pw - 4}" y="${Number(y) - 4}" text-anchor="end" fill="#666">${esc(plot.target.label)}</text>`);
  }
  plot.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const line = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (line.length > 1) {
      const d = line.map(([x, y], j) => `${j ? 'L' : 'M'}${f(px(x))},${f(py(y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    }
    for (const [x, y] of line) out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${colour}"/>`);
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 36}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - M.right + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  if (plot.caption) out.push(`<text x="${M.left}" y="${H - 10}" fill="#555" font-size="11">${esc(plot.caption)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
