/**
 * What a feature slot shows when its API answers before its own panel exists: the answer's
 * items as a plain table of their simple fields. Honest (it's the API's data) and replaced by
 * the feature's real panel when that lands.
 */
export function GenericList({ data, label }: { data: unknown; label: string }) {
  const items = Array.isArray(data) ? data : ((data as { items?: unknown[] } | null)?.items ?? undefined);
  if (!items) {
    return (
      <details>
        <summary>The API answers; its panel is on the way. Show the raw answer</summary>
        <pre className="mono small raw">{JSON.stringify(data, null, 2).slice(0, 4000)}</pre>
      </details>
    );
  }
  if (items.length === 0) return <p className="empty">None yet.</p>;
  const cols = Object.keys(items[0] as object)
    .filter((k) => items.some((i) => ['string', 'number', 'boolean'].includes(typeof (i as Record<string, unknown>)[k])))
    .slice(0, 6);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="sr-only">{label}</caption>
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {items.slice(0, 100).map((item, n) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the API's items have no known key here
            <tr key={n}>
              {cols.map((c) => (
                <td key={c}>{String((item as Record<string, unknown>)[c] ?? '')}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
