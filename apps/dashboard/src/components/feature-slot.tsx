import type { TriplaneClient } from '@triplane/client';
import type { ReactNode } from 'react';
import { isMissingRoute } from '../api.ts';
import { useApi } from '../hooks.ts';
import { ErrorNotice, Loading, Section } from '../ui.tsx';

/**
 * A place for a feature whose API is being built (charts, backups, staging sync, clone, file
 * manager). It asks the API: a GET of the feature's list route, or — for features that are
 * only a POST — whether the live OpenAPI document has the operation. Only a 404 ("no route")
 * makes it say "not available yet"; any other error is shown as the error it is. When the
 * route answers, `children` renders with the answer: wiring the feature is that one component.
 */
export type Probe = { get: string } | { operation: { method: 'post' | 'get' | 'put' | 'delete' | 'patch'; path: string } };

async function probe(c: TriplaneClient, p: Probe): Promise<{ available: boolean; data: unknown }> {
  try {
    if ('get' in p) return { available: true, data: await c.http.request<unknown>('GET', p.get) };
    const doc = await c.http.request<{ paths?: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json');
    const op = doc.paths?.[`/api/v1${p.operation.path}`]?.[p.operation.method];
    return { available: op !== undefined, data: undefined };
  } catch (e) {
    if (isMissingRoute(e)) return { available: false, data: undefined };
    throw e;
  }
}

export function FeatureSlot(props: {
  title: string;
  /** What it will do, shown while the API lacks it. */
  purpose: string;
  probe: Probe;
  /** Stable cache key for the probe (e.g. the environment id). */
  probeKey: string;
  children: (data: unknown) => ReactNode;
}) {
  const r = useApi(`slot:${props.title}:${props.probeKey}`, (c) => probe(c, props.probe));
  return (
    <Section title={props.title}>
      {r.loading && !r.data && <Loading label={`Checking whether the API has ${props.title.toLowerCase()}…`} />}
      <ErrorNotice error={r.error} />
      {r.data && !r.data.available && (
        <div className="slot-empty" data-slot={props.title}>
          <p>
            <strong>Not available yet.</strong> {props.purpose}
          </p>
          <p className="help">This API does not have it yet (it answered 404); this panel appears once it does.</p>
        </div>
      )}
      {r.data?.available && props.children(r.data.data)}
    </Section>
  );
}
