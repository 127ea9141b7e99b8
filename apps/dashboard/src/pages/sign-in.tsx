import { useEffect, useId, useRef, useState } from 'react';
import { ErrorNotice } from '../ui.tsx';

export function SignIn(props: { reason?: string; onSignIn: (email: string, password: string) => Promise<void> }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const emailId = useId();
  const pwId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = 'Sign in · Triplane';
    heading.current?.focus();
  }, []);

  return (
    <main className="signin" id="main">
      <form
        className="card signin-card"
        aria-labelledby="signin-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await props.onSignIn(email, password);
          } catch (err) {
            setError(err);
            setBusy(false);
          }
        }}
      >
        <div className="brand brand-large" aria-hidden="true">
          <span className="brand-mark" /> Triplane
        </div>
        <h1 id="signin-title" ref={heading} tabIndex={-1}>
          Sign in
        </h1>
        {props.reason && (
          <p className="notice" role="status">
            {props.reason}
          </p>
        )}
        <ErrorNotice error={error} title="Could not sign in" />
        <div className="field">
          <label htmlFor={emailId}>Email</label>
          <input
            id={emailId}
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={pwId}>Password</label>
          <input
            id={pwId}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <button type="submit" className="btn btn-primary btn-wide" disabled={busy} aria-busy={busy || undefined}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="help">
          A session lasts a working day. Scripts and the <code>triplane</code> command use API tokens instead.
        </p>
      </form>
    </main>
  );
}
