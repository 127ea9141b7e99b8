import type { LogFilters } from '@triplane/client';
import type { LogKind, LogLine, LogSource } from '@triplane/spec';
import { Fragment, useEffect, useId, useRef, useState } from 'react';
import { isMissingRoute, isUnauthenticated } from '../api.ts';
import { useSession } from '../session.tsx';
import { Empty, ErrorNotice, Loading, Section } from '../ui.tsx';

/** Lines per page (the API's default) and lines kept on screen while live. */
const PAGE = 100;
const MAX_SHOWN = 1000;
/** New live lines are drawn at most this often: a busy site must not re-render per request. */
const FLUSH_MS = 250;
/** The search box applies after typing stops this long (Enter applies at once). */
const TYPING_MS = 400;
const MSG_CLIP = 160;

type SourceChoice = '' | LogSource;
type KindChoice = '' | LogKind;

interface View {
  /** The filters (and reload) these lines belong to: a late answer for older filters is dropped. */
  key: string;
  lines: LogLine[];
  nextCursor: string | null;
  loading: boolean;
  error: unknown;
  /** The route answered 404 "no route": this API has no logs. */
  missing: boolean;
}

/**
 * Newest first, each id once. Ids are time-ordered and fixed-width (`log_` + base-36), so string
 * order is arrival order; a stream may deliver a late-committed line out of order, hence the sort.
 * When lines beyond `MAX_SHOWN` are cut, the cursor moves to the oldest line kept so "Load older"
 * continues exactly below what is shown.
 */
function merge(lines: LogLine[], incoming: LogLine[], cursor: string | null): { lines: LogLine[]; nextCursor: string | null } {
  const seen = new Set(lines.map((l) => l.id));
  const fresh = incoming.filter((l) => !seen.has(l.id) && seen.add(l.id));
  if (!fresh.length) return { lines, nextCursor: cursor };
  const all = [...fresh, ...lines].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  if (all.length <= MAX_SHOWN) return { lines: all, nextCursor: cursor };
  const kept = all.slice(0, MAX_SHOWN);
  return { lines: kept, nextCursor: kept.at(-1)?.id ?? cursor };
}

function clockTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function statusTone(status: number | undefined): string {
  if (status === undefined) return 'muted';
  if (status >= 500 || status === 0) return 'bad';
  if (status >= 400) return 'warn';
  if (status >= 300) return 'busy';
  return 'ok';
}

/** The fields the table has no column for, shown when a line is expanded. */
function LineDetails({ line }: { line: LogLine }) {
  const rows: [string, string | number | undefined][] = [
    ['Time', new Date(line.at).toLocaleString()],
    ['Message', line.message],
    ['Path', line.path],
    ['Client IP', line.ip],
    ['User agent', line.ua],
    ['Request id', line.requestId],
    ['Upstream', line.upstream],
    ['Upstream ms', line.upstreamMs],
    ['Bytes', line.bytes],
    ['WAF', line.waf],
    ['Line id', line.id],
  ];
  return (
    <dl className="log-details">
      {rows
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd className={k === 'Message' ? 'log-message-full' : 'mono'}>{v}</dd>
          </Fragment>
        ))}
    </dl>
  );
}

function LogRow({ line, open, onToggle }: { line: LogLine; open: boolean; onToggle: () => void }) {
  const target = `${line.host ?? ''}${line.path ?? ''}`;
  const msg = line.message ?? '';
  const detailsId = `log-${line.id}`;
  return (
    <>
      <tr className={line.kind === 'error' ? 'log-row log-row-error' : 'log-row'}>
        <td>
          <button
            type="button"
            className="btn btn-plain log-toggle"
            aria-expanded={open}
            aria-controls={open ? detailsId : undefined}
            aria-label={`${open ? 'Hide' : 'Show'} details of the ${line.kind} line at ${clockTime(line.at)}`}
            onClick={onToggle}
          >
            <span aria-hidden="true">{open ? '▾' : '▸'}</span>
          </button>
        </td>
        <th scope="row" className="mono nowrap">
          <time dateTime={line.at} title={new Date(line.at).toLocaleString()}>
            {clockTime(line.at)}
          </time>
        </th>
        <td>
          {line.source}
          {line.kind === 'error' && <span className="badge badge-bad log-kind">error</span>}
        </td>
        <td>
          {line.status === undefined ? '' : <span className={`badge badge-${statusTone(line.status)}`}>{line.status}</span>}
        </td>
        <td className="mono">{line.method ?? ''}</td>
        <td className="mono clip log-target" title={target}>
          {target}
        </td>
        <td className="num">{line.ms === undefined ? '' : Math.round(line.ms)}</td>
        <td className="mono">
          {line.cache ?? ''}
          {line.waf ? <span className="badge badge-bad log-waf">WAF {line.waf}</span> : null}
        </td>
        <td className="clip log-message" title={msg || undefined}>
          {msg.length > MSG_CLIP ? `${msg.slice(0, MSG_CLIP)}…` : msg}
        </td>
      </tr>
      {open && (
        <tr className="log-details-row" id={detailsId}>
          <td colSpan={9}>
            <LineDetails line={line} />
          </td>
        </tr>
      )}
    </>
  );
}

/**
 * An environment's access and error lines (docs/logs.md): the last 24 h searched through
 * `GET /environments/{id}/logs` (newest first, "Load older" follows the cursor), and — with
 * "Live" on — new lines tailed over `GET /environments/{id}/logs/stream` through the client's
 * `followLogs` (server-sent events over fetch with the session cookie, like the job watch;
 * it reconnects and resumes after the last line seen).
 */
export function LogsPanel({ environmentId }: { environmentId: string }) {
  const { client, expired } = useSession();
  const uid = useId();
  const [source, setSource] = useState<SourceChoice>('');
  const [kind, setKind] = useState<KindChoice>('');
  const [status, setStatus] = useState('');
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const [live, setLive] = useState(false);
  const [nonce, setNonce] = useState(0);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [older, setOlder] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: undefined });
  const [stream, setStream] = useState<{ error: unknown; dropped: number }>({ error: undefined, dropped: 0 });

  const filters: LogFilters = {
    source: source || undefined,
    kind: kind || undefined,
    status: status || undefined,
    q: q || undefined,
  };
  const key = JSON.stringify([environmentId, filters, nonce]);
  const [view, setView] = useState<View>({ key, lines: [], nextCursor: null, loading: true, error: undefined, missing: false });
  const current =
    view.key === key ? view : { ...view, lines: [], nextCursor: null, loading: true, error: undefined, missing: false };
  // Read by the live effect when it starts, without restarting it on every new line.
  const newestRef = useRef<string | undefined>(undefined);
  newestRef.current = current.lines[0]?.id;
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const keyRef = useRef(key);
  keyRef.current = key;

  useEffect(() => {
    const t = setTimeout(() => setQ(typed.trim()), TYPING_MS);
    return () => clearTimeout(t);
  }, [typed]);

  // The first page for these filters.
  useEffect(() => {
    let alive = true;
    setView({ key, lines: [], nextCursor: null, loading: true, error: undefined, missing: false });
    setOlder({ busy: false, error: undefined });
    setOpen(new Set());
    client.environments.logs(environmentId, { ...filtersRef.current, limit: PAGE }).then(
      (r) =>
        alive && setView({ key, lines: r.items, nextCursor: r.nextCursor, loading: false, error: undefined, missing: false }),
      (error: unknown) => {
        if (!alive) return;
        if (isUnauthenticated(error)) expired();
        setView({ key, lines: [], nextCursor: null, loading: false, error, missing: isMissingRoute(error) });
      },
    );
    return () => {
      alive = false;
    };
  }, [key, environmentId, client, expired]);

  // Live: once the page is shown, follow from its newest line so nothing between the two is missed.
  const ready = view.key === key && !view.loading && !view.error;
  useEffect(() => {
    if (!live || !ready) return;
    const ac = new AbortController();
    let pending: LogLine[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setView((v) => (v.key === key ? { ...v, ...merge(v.lines, batch, v.nextCursor) } : v));
    };
    setStream({ error: undefined, dropped: 0 });
    client.environments
      .followLogs(
        environmentId,
        (line) => {
          pending.push(line);
          timer ??= setTimeout(flush, FLUSH_MS);
        },
        {
          ...filtersRef.current,
          after: newestRef.current,
          signal: ac.signal,
          onDropped: (n) => setStream((s) => ({ ...s, dropped: s.dropped + n })),
        },
      )
      .catch((error: unknown) => {
        if (ac.signal.aborted) return;
        if (isUnauthenticated(error)) expired();
        setStream((s) => ({ ...s, error }));
        setLive(false);
      });
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [live, ready, key, environmentId, client, expired]);

  const loadOlder = () => {
    const cursor = current.nextCursor;
    if (!cursor || older.busy) return;
    setOlder({ busy: true, error: undefined });
    client.environments.logs(environmentId, { ...filters, cursor, limit: PAGE }).then(
      (r) => {
        if (keyRef.current !== key) return; // the filters changed meanwhile
        // Older lines go below; the cursor is the API's (it knows whether more exist).
        setView((v) => {
          if (v.key !== key) return v;
          const shown = new Set(v.lines.map((l) => l.id));
          return { ...v, lines: [...v.lines, ...r.items.filter((l) => !shown.has(l.id))], nextCursor: r.nextCursor };
        });
        setOlder({ busy: false, error: undefined });
      },
      (error: unknown) => {
        if (isUnauthenticated(error)) expired();
        if (keyRef.current === key) setOlder({ busy: false, error });
      },
    );
  };

  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (!n.delete(id)) n.add(id);
      return n;
    });

  const filtered = source || kind || status || q;
  const ids = { source: `${uid}-source`, kind: `${uid}-kind`, status: `${uid}-status`, q: `${uid}-q`, live: `${uid}-live` };

  if (current.missing) {
    return (
      <Section title="Logs">
        <div className="slot-empty" data-slot="Logs">
          <p>
            <strong>Not available yet.</strong> Access and error lines of the last 24 hours, searchable and live.
          </p>
          <p className="help">This API does not have logs yet (it answered 404).</p>
        </div>
      </Section>
    );
  }

  return (
    <Section
      title="Logs"
      actions={
        <div className="field field-check">
          <input
            id={ids.live}
            type="checkbox"
            checked={live}
            disabled={!ready && !live}
            onChange={(e) => setLive(e.target.checked)}
          />
          <label htmlFor={ids.live}>Live</label>
        </div>
      }
    >
      <form
        className="filters"
        aria-label="Filter log lines"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(typed.trim());
        }}
      >
        <div className="field">
          <label htmlFor={ids.source}>Source</label>
          <select id={ids.source} value={source} onChange={(e) => setSource(e.target.value as SourceChoice)}>
            <option value="">all</option>
            <option value="edge">edge (requests)</option>
            <option value="nginx">nginx (site error log)</option>
            <option value="php">php (PHP errors)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.kind}>Kind</label>
          <select id={ids.kind} value={kind} onChange={(e) => setKind(e.target.value as KindChoice)}>
            <option value="">all</option>
            <option value="access">access</option>
            <option value="error">error</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.status}>Status</label>
          <select id={ids.status} value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            <option value="2xx">2xx</option>
            <option value="3xx">3xx</option>
            <option value="4xx">4xx</option>
            <option value="5xx">5xx</option>
          </select>
        </div>
        <div className="field log-search">
          <label htmlFor={ids.q}>Search path, user agent or message</label>
          <input id={ids.q} type="search" value={typed} onChange={(e) => setTyped(e.target.value)} spellCheck={false} />
        </div>
        <button type="submit" className="btn btn-plain">
          Search
        </button>
      </form>

      <p className="muted small" role="status" aria-live="polite">
        {live
          ? 'Live: new lines appear at the top as they arrive.'
          : current.loading
            ? ''
            : `${current.lines.length} line${current.lines.length === 1 ? '' : 's'} shown, newest first (the last 24 hours are kept).`}
        {stream.dropped > 0 && ` ${stream.dropped} line(s) were skipped because this page fell behind.`}
      </p>
      <ErrorNotice error={stream.error} title="The live tail stopped" />

      {current.loading && <Loading label="Loading log lines…" />}
      <ErrorNotice error={current.error} title="Could not load log lines" />
      {!current.loading && !current.error && current.lines.length === 0 && (
        <Empty>
          {filtered ? 'No lines match these filters in the last 24 hours.' : 'No log lines in the last 24 hours yet.'}
          {live ? ' Waiting for new ones…' : ''}
        </Empty>
      )}
      {current.lines.length > 0 && (
        // A keyboard user must be able to scroll the wide table sideways on a phone: the wrapper takes focus.
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region needs focus to be scrolled by keyboard
        <section className="table-wrap log-scroll" aria-labelledby={`${uid}-caption`} tabIndex={0}>
          <table className="table log-table">
            <caption id={`${uid}-caption`} className="sr-only">
              Log lines, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">
                  <span className="sr-only">Details</span>
                </th>
                <th scope="col">Time</th>
                <th scope="col">Source</th>
                <th scope="col">Status</th>
                <th scope="col">Method</th>
                <th scope="col">Host and path</th>
                <th scope="col" className="num">
                  ms
                </th>
                <th scope="col">Cache</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {current.lines.map((l) => (
                <LogRow key={l.id} line={l} open={open.has(l.id)} onToggle={() => toggle(l.id)} />
              ))}
            </tbody>
          </table>
        </section>
      )}

      {!current.loading && !current.error && (
        <div className="btn-row log-more">
          {current.nextCursor ? (
            <button
              type="button"
              className="btn btn-plain"
              onClick={loadOlder}
              disabled={older.busy}
              aria-busy={older.busy || undefined}
            >
              {older.busy ? 'Loading…' : 'Load older'}
            </button>
          ) : (
            current.lines.length > 0 && <p className="muted small">No older lines.</p>
          )}
          <button type="button" className="btn btn-plain" onClick={() => setNonce((n) => n + 1)}>
            Refresh
          </button>
        </div>
      )}
      <ErrorNotice error={older.error} title="Could not load older lines" />
    </Section>
  );
}
