import type { Environment } from '@triplane/client';
import { useState } from 'react';
import { useApi } from '../hooks.ts';
import { Empty, ErrorNotice, Loading } from '../ui.tsx';

/**
 * Read-only browser of an environment's database (spec/api/files.ts): the tables, then pages
 * of a table's rows. Values are cut to 1 KB and secrets (password hashes, session tokens, API
 * keys) are masked by the agent before they leave the server.
 */
const PAGE = 50;

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function Rows(props: { env: Environment; table: string; onBack: () => void }) {
  const { env, table } = props;
  const [offset, setOffset] = useState(0);
  const page = useApi(`db-rows:${env.id}:${table}:${offset}`, (c) => c.db.rows(env.id, table, { offset, limit: PAGE }));
  const p = page.data;
  const cut = new Set((p?.truncated ?? []).map(([r, c]) => `${r}:${c}`));
  return (
    <>
      <div className="btn-row">
        <button type="button" className="btn btn-plain" onClick={props.onBack}>
          ← All tables
        </button>
        <strong className="mono">{table}</strong>
        <span className="spacer" />
        <button
          type="button"
          className="btn btn-plain"
          disabled={offset === 0 || page.loading}
          onClick={() => setOffset(Math.max(0, offset - PAGE))}
        >
          Previous
        </button>
        <button
          type="button"
          className="btn btn-plain"
          disabled={!p || p.rows.length < PAGE || page.loading}
          onClick={() => setOffset(offset + PAGE)}
        >
          Next
        </button>
      </div>
      {page.loading && <Loading label={`Reading ${table}…`} />}
      <ErrorNotice error={page.error} title={`Could not read ${table}`} />
      {p && p.rows.length === 0 && <Empty>No rows {offset ? `after row ${offset}` : 'in this table'}.</Empty>}
      {p && p.rows.length > 0 && (
        <>
          <p className="muted small" role="status">
            Rows {p.offset + 1}–{p.offset + p.rows.length}
            {p.masked.length > 0 && <> · masked: {p.masked.join(', ')}</>}
            {p.truncated.length > 0 && <> · {p.truncated.length} long value(s) cut to 1 KB (…)</>}
          </p>
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">
                Rows of {table}, from {p.offset + 1}
              </caption>
              <thead>
                <tr>
                  {p.columns.map((c) => (
                    <th key={c.name} scope="col" title={c.type}>
                      {c.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {p.rows.map((r, ri) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: rows of a page have no key of their own
                  <tr key={ri}>
                    {r.map((v, ci) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: the column position is the key
                      <td key={ci} className="mono small clip">
                        {v === null ? <span className="muted">NULL</span> : String(v)}
                        {cut.has(`${ri}:${ci}`) && <span className="muted">…</span>}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

export function DbBrowser(props: { env: Environment }) {
  const { env } = props;
  const [table, setTable] = useState<string>();
  // an environment on no app server has no database to ask for (the API would answer 409)
  const placed = env.serverIds.length > 0;
  const tables = useApi(table || !placed ? null : `db-tables:${env.id}`, (c) => c.db.tables(env.id));
  if (table) return <Rows key={table} env={env} table={table} onBack={() => setTable(undefined)} />;
  return (
    <>
      <p className="muted small">Read-only. Values are cut to 1 KB; passwords, session tokens and keys are masked.</p>
      {!placed && <Empty>Not on an app server yet: the tables show once the environment is placed.</Empty>}
      {tables.loading && !tables.data && <Loading label="Listing the tables…" />}
      <ErrorNotice error={tables.error} title="Could not list the tables" />
      {tables.data && tables.data.tables.length === 0 && <Empty>The database has no tables yet.</Empty>}
      {tables.data && tables.data.tables.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Tables of the database</caption>
            <thead>
              <tr>
                <th scope="col">Table</th>
                <th scope="col">Rows (estimate)</th>
                <th scope="col">Size</th>
              </tr>
            </thead>
            <tbody>
              {tables.data.tables.map((t) => (
                <tr key={t.name}>
                  <th scope="row">
                    <button type="button" className="btn btn-plain mono" onClick={() => setTable(t.name)}>
                      {t.name}
                    </button>
                  </th>
                  <td>{t.rowsEstimate.toLocaleString()}</td>
                  <td>{size(t.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
