import type { TriplaneClient } from '@triplane/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { isUnauthenticated } from './api.ts';
import { useSession } from './session.tsx';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetch again (keeps showing the current data meanwhile). */
  reload(): void;
}

/**
 * Load something from the API when `key` changes (and on `reload`). A 401 ends the session.
 * `refreshMs` polls while the page is open (lists whose items move on their own).
 */
export function useApi<T>(key: string | null, load: (c: TriplaneClient) => Promise<T>, refreshMs?: number): Loaded<T> {
  const session = useSession();
  const loadRef = useRef(load);
  loadRef.current = load;
  const [state, setState] = useState<{ key: string | null; data?: T; error?: unknown; loading: boolean }>({
    key,
    loading: key !== null,
  });
  const [nonce, setNonce] = useState(0);
  const { client, expired } = session;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `nonce` is the reload trigger
  useEffect(() => {
    if (key === null) return;
    let live = true;
    setState((s) => ({ key, data: s.key === key ? s.data : undefined, error: undefined, loading: true }));
    loadRef.current(client).then(
      (data) => live && setState({ key, data, loading: false }),
      (error: unknown) => {
        if (!live) return;
        if (isUnauthenticated(error)) expired();
        setState((s) => ({ key, data: s.key === key ? s.data : undefined, error, loading: false }));
      },
    );
    return () => {
      live = false;
    };
  }, [key, nonce, client, expired]);

  useEffect(() => {
    if (!refreshMs || key === null) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') setNonce((n) => n + 1);
    }, refreshMs);
    return () => clearInterval(t);
  }, [refreshMs, key]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const same = state.key === key;
  return { data: same ? state.data : undefined, error: same ? state.error : undefined, loading: !same || state.loading, reload };
}

export interface Action<A extends unknown[], R> {
  run(...args: A): Promise<R | undefined>;
  busy: boolean;
  error: unknown;
  result: R | undefined;
  reset(): void;
}

/** A mutating call with its busy/error/result state; errors are kept to show next to the control. */
export function useAction<A extends unknown[], R>(fn: (c: TriplaneClient, ...args: A) => Promise<R>): Action<A, R> {
  const { client, expired } = useSession();
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const [state, setState] = useState<{ busy: boolean; error?: unknown; result?: R }>({ busy: false });
  const run = useCallback(
    async (...args: A) => {
      setState({ busy: true });
      try {
        const result = await fnRef.current(client, ...args);
        setState({ busy: false, result });
        return result;
      } catch (error) {
        if (isUnauthenticated(error)) expired();
        setState({ busy: false, error });
        return undefined;
      }
    },
    [client, expired],
  );
  const reset = useCallback(() => setState({ busy: false }), []);
  return { run, busy: state.busy, error: state.error, result: state.result, reset };
}
