import type { Role } from '@triplane/client';
import { type ButtonHTMLAttributes, type ReactNode, useId, useState } from 'react';
import { toShownError } from './api.ts';
import { atLeast } from './session.tsx';

/** An API error where it happened: its stable code and its message. */
export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e = toShownError(error);
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title ?? 'That did not work'}</strong>
      <p>
        <code className="err-code">{e.code}</code> {e.message}
      </p>
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

const TONE: Record<string, string> = {
  active: 'ok',
  running: 'ok',
  succeeded: 'ok',
  online: 'ok',
  ready: 'ok',
  provisioning: 'busy',
  queued: 'busy',
  pending: 'busy',
  deleting: 'warn',
  degraded: 'warn',
  stopped: 'muted',
  cancelled: 'muted',
  offline: 'bad',
  failed: 'bad',
  'crash-looping': 'bad',
  blocked: 'bad',
  detected: 'warn',
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${TONE[status] ?? 'muted'}`}>{status}</span>;
}

export function ProgressBar({ value, label, state }: { value: number; label: string; state?: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className={`progress progress-${TONE[state ?? ''] ?? 'busy'}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
    >
      {/* The width is set through the CSSOM (React's style prop), which the CSP allows. */}
      <div className="progress-fill" style={{ width: `${v}%` }} />
    </div>
  );
}

/** Relative time with the exact one on hover and for assistive tech. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  const d = new Date(iso);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  let rel: string;
  if (Math.abs(s) < 60) rel = 'just now';
  else if (Math.abs(s) < 3600) rel = `${Math.round(s / 60)} min ago`;
  else if (Math.abs(s) < 86400) rel = `${Math.round(s / 3600)} h ago`;
  else rel = d.toLocaleDateString();
  return (
    <time dateTime={iso} title={d.toLocaleString()}>
      {rel}
    </time>
  );
}

export function roleHint(role: Role | undefined, need: Role): string | undefined {
  if (atLeast(role, need)) return undefined;
  return `Needs the ${need} role; you are ${role ?? 'not a member'}`;
}

/**
 * A button that changes something: disabled (with the reason as its title) when the caller's
 * role is below `need` — the API refuses it anyway. `data-mutating` marks it for the tests.
 */
export function ActionButton(
  props: ButtonHTMLAttributes<HTMLButtonElement> & {
    role?: Role | undefined;
    need: Role;
    busy?: boolean;
    tone?: 'danger' | 'plain';
  },
) {
  const { role, need, busy, tone, disabled, children, className, ...rest } = props;
  const hint = roleHint(role, need);
  return (
    <button
      type="button"
      {...rest}
      className={`btn ${tone === 'danger' ? 'btn-danger' : tone === 'plain' ? 'btn-plain' : 'btn-primary'} ${className ?? ''}`}
      disabled={disabled || busy || hint !== undefined}
      title={hint ?? rest.title}
      aria-busy={busy || undefined}
      data-mutating="true"
    >
      {busy ? 'Working…' : children}
    </button>
  );
}

/** A form section a role may or may not use: every control in it is disabled below `need`. */
export function Guard({ role, need, children }: { role: Role | undefined; need: Role; children: ReactNode }) {
  const hint = roleHint(role, need);
  return (
    <fieldset className="guard" disabled={hint !== undefined} data-mutating={hint !== undefined ? 'true' : undefined}>
      {hint && <p className="hint">{hint}.</p>}
      {children}
    </fieldset>
  );
}

export function Field(props: { label: string; children: (id: string) => ReactNode; help?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
      {props.help && <small className="help">{props.help}</small>}
    </div>
  );
}

export function Section(props: { title: string; id?: string; actions?: ReactNode; children: ReactNode }) {
  const hid = useId();
  return (
    <section className="card" aria-labelledby={hid} id={props.id}>
      <header className="card-head">
        <h2 id={hid}>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

/** A secret shown exactly once (API token, join token, WordPress password), with copy. */
export function OnceSecret({ label, value, note }: { label: string; value: string; note: string }) {
  const [copied, setCopied] = useState(false);
  const id = useId();
  return (
    <div className="notice notice-secret" role="status">
      <label htmlFor={id}>
        <strong>{label}</strong>
      </label>
      <div className="secret-row">
        <input id={id} readOnly value={value} className="mono" onFocus={(e) => e.currentTarget.select()} />
        <button
          type="button"
          className="btn btn-plain"
          onClick={() => {
            void navigator.clipboard?.writeText(value).then(() => setCopied(true));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="help">{note}</p>
    </div>
  );
}

/**
 * Typed confirmation for deletions: the button only enables once the exact name is typed, and
 * the API checks it again (`?confirm=<name>`).
 */
export function ConfirmDelete(props: {
  what: string;
  name: string;
  consequence: string;
  role: Role | undefined;
  need: Role;
  busy: boolean;
  onConfirm: () => void;
}) {
  const [typed, setTyped] = useState('');
  const id = useId();
  return (
    <div className="danger-zone">
      <p>{props.consequence}</p>
      <Guard role={props.role} need={props.need}>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed === props.name) props.onConfirm();
          }}
        >
          <div className="field">
            <label htmlFor={id}>
              Type <code>{props.name}</code> to confirm
            </label>
            <input id={id} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} />
          </div>
          <ActionButton
            type="submit"
            tone="danger"
            role={props.role}
            need={props.need}
            busy={props.busy}
            disabled={typed !== props.name}
          >
            Delete {props.what}
          </ActionButton>
        </form>
      </Guard>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
