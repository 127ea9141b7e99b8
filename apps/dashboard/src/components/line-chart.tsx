import { useId } from 'react';

export interface Series {
  name: string;
  /** A CSS colour (an SVG presentation attribute, not a style: allowed by the CSP). */
  color: string;
  /** One value per x; null is a gap. */
  values: (number | null)[];
}

const W = 320;
const H = 110;
const PAD = 4;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/** Points of one series as polyline runs, split at gaps. */
function runs(values: (number | null)[], max: number): string[] {
  const n = values.length;
  const out: string[] = [];
  let cur: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (cur.length) out.push(cur.join(' '));
      cur = [];
      return;
    }
    const x = PAD + (n <= 1 ? 0 : (i / (n - 1)) * (W - 2 * PAD));
    const y = H - PAD - (Math.min(v, max) / max) * (H - 2 * PAD);
    cur.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  if (cur.length) out.push(cur.join(' '));
  // A single point draws nothing as a polyline: double it so it shows as a dot.
  return out.map((r) => (r.includes(' ') ? r : `${r} ${r}`));
}

/**
 * A small dependency-free SVG line chart: y from 0 to a rounded maximum, one polyline per
 * series, a legend with each series' latest value. The picture is described for screen
 * readers by its title (the latest values), since a chart's shape isn't readable text.
 */
export function LineChart(props: { title: string; series: Series[]; format: (v: number) => string; fixedMax?: number }) {
  const id = useId();
  const all = props.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = props.fixedMax ?? niceMax(all.length ? Math.max(...all) : 0);
  const latest = props.series.map((s) => {
    const v = [...s.values].reverse().find((x) => x !== null);
    return { name: s.name, color: s.color, text: v === undefined || v === null ? '—' : props.format(v) };
  });
  const summary = `${props.title}: ${latest.map((l) => `${l.name} ${l.text}`).join(', ')}`;
  return (
    <figure className="chart">
      <figcaption id={id}>
        <strong>{props.title}</strong> <span className="muted small">max {props.format(max)}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={id} preserveAspectRatio="none" className="chart-svg">
        <title>{summary}</title>
        <line x1={PAD} x2={W - PAD} y1={H - PAD} y2={H - PAD} stroke="#94a3b8" strokeWidth="1" />
        <line x1={PAD} x2={W - PAD} y1={H / 2} y2={H / 2} stroke="#e2e8f0" strokeWidth="1" />
        {props.series.map((s) =>
          runs(s.values, max).map((pts) => (
            <polyline
              key={`${s.name}:${pts.slice(0, 24)}`}
              points={pts}
              fill="none"
              stroke={s.color}
              strokeWidth="2"
              vectorEffect="non-scaling-stroke"
            />
          )),
        )}
      </svg>
      <ul className="legend">
        {latest.map((l) => (
          <li key={l.name}>
            <svg width="10" height="10" aria-hidden="true">
              <rect width="10" height="10" fill={l.color} />
            </svg>{' '}
            {l.name} <strong>{l.text}</strong>
          </li>
        ))}
      </ul>
    </figure>
  );
}
