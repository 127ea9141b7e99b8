import type { Environment, Role } from '@triplane/client';
import type { FileEntry } from '@triplane/spec';
import { useId, useState } from 'react';
import { useAction, useApi } from '../hooks.ts';
import { atLeast } from '../session.tsx';
import { ActionButton, Empty, ErrorNotice, Guard, Loading, Time } from '../ui.tsx';

/**
 * The file manager of an environment's wp-content (spec/api/files.ts): browse, view and edit
 * text files, upload, download, make folders, delete with a confirmation. Every action is one
 * API call answered by the app server's agent; viewers browse and download only.
 */
const MAX_BYTES = 5 * 1024 * 1024;
/** Larger text files are downloaded, not shown in a textarea. */
const MAX_EDIT_BYTES = 1024 * 1024;

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** UTF-8 text without NUL bytes, or undefined (binary). */
function asText(bytes: Uint8Array): string | undefined {
  if (bytes.length > MAX_EDIT_BYTES || bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function saveAs(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Breadcrumbs(props: { path: string; onGo: (p: string) => void }) {
  const parts = props.path ? props.path.split('/') : [];
  return (
    <nav aria-label="Folder" className="btn-row">
      <button
        type="button"
        className="btn btn-plain"
        onClick={() => props.onGo('')}
        aria-current={parts.length === 0 ? 'page' : undefined}
      >
        wp-content
      </button>
      {parts.map((p, i) => (
        <span key={parts.slice(0, i + 1).join('/')}>
          <span aria-hidden="true">/</span>{' '}
          <button
            type="button"
            className="btn btn-plain"
            onClick={() => props.onGo(parts.slice(0, i + 1).join('/'))}
            aria-current={i === parts.length - 1 ? 'page' : undefined}
          >
            {p}
          </button>
        </span>
      ))}
    </nav>
  );
}

/** A file opened: text is shown (and editable for developers), binary offered for download. */
function FileView(props: { env: Environment; path: string; role: Role | undefined; onClose: () => void; onSaved: () => void }) {
  const { env, path, role } = props;
  const file = useApi(`file:${env.id}:${path}`, (c) => c.files.read(env.id, path));
  const [draft, setDraft] = useState<string>();
  const save = useAction((c, text: string) => c.files.write(env.id, path, text));
  const id = useId();
  const text = file.data ? asText(file.data) : undefined;
  const canEdit = atLeast(role, 'developer');
  const name = path.split('/').pop() ?? path;
  return (
    <section className="card" aria-label={`File ${path}`}>
      <div className="btn-row">
        <strong className="mono">{path}</strong>
        <span className="spacer" />
        {file.data && (
          <button type="button" className="btn btn-plain" onClick={() => file.data && saveAs(file.data, name)}>
            Download
          </button>
        )}
        <button type="button" className="btn btn-plain" onClick={props.onClose}>
          Close
        </button>
      </div>
      {file.loading && !file.data && <Loading label={`Opening ${name}…`} />}
      <ErrorNotice error={file.error} title={`Could not open ${name}`} />
      {file.data && text === undefined && (
        <p className="muted">
          {file.data.length > MAX_EDIT_BYTES ? 'A large file' : 'A binary file'} ({size(file.data.length)}): download it to look
          inside.
        </p>
      )}
      {file.data && text !== undefined && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (draft === undefined) return;
            const r = await save.run(draft);
            if (r) {
              setDraft(undefined);
              file.reload();
              props.onSaved();
            }
          }}
        >
          <label htmlFor={id} className="sr-only">
            Content of {path}
          </label>
          <textarea
            id={id}
            className="mono"
            rows={18}
            style={{ width: '100%' }}
            spellCheck={false}
            readOnly={!canEdit}
            value={draft ?? text}
            onChange={(e) => setDraft(e.target.value)}
          />
          <div className="btn-row">
            <ActionButton
              type="submit"
              role={role}
              need="developer"
              busy={save.busy}
              disabled={draft === undefined || draft === text}
            >
              Save
            </ActionButton>
            {draft !== undefined && draft !== text && (
              <button type="button" className="btn btn-plain" onClick={() => setDraft(undefined)}>
                Discard changes
              </button>
            )}
            {save.result && draft === undefined && (
              <span role="status" className="muted small">
                Saved ({size(save.result.size)}).
              </span>
            )}
          </div>
          <ErrorNotice error={save.error} title="Not saved" />
        </form>
      )}
    </section>
  );
}

function EntryRow(props: {
  env: Environment;
  dir: string;
  e: FileEntry;
  role: Role | undefined;
  onOpenDir: (p: string) => void;
  onOpenFile: (p: string) => void;
  onChanged: () => void;
}) {
  const { env, e, role } = props;
  const path = join(props.dir, e.name);
  const [confirming, setConfirming] = useState(false);
  const del = useAction((c) => c.files.remove(env.id, path, { recursive: e.type === 'dir' }));
  const dl = useAction(async (c) => saveAs(await c.files.read(env.id, path), e.name));
  return (
    <tr>
      <th scope="row" className="mono">
        {e.type === 'dir' ? (
          <button type="button" className="btn btn-plain" onClick={() => props.onOpenDir(path)}>
            {e.name}/
          </button>
        ) : e.type === 'file' ? (
          <button type="button" className="btn btn-plain" onClick={() => props.onOpenFile(path)}>
            {e.name}
          </button>
        ) : (
          <span title={e.type === 'symlink' ? 'a link: shown, never followed' : 'not a regular file'}>
            {e.name}
            {e.target !== undefined && <span className="muted"> → {e.target}</span>}
          </span>
        )}
      </th>
      <td>{e.type === 'dir' ? '—' : size(e.size)}</td>
      <td>
        <Time iso={e.mtime} />
      </td>
      <td className="mono">{e.mode}</td>
      <td>
        <div className="btn-row">
          {e.type === 'file' && (
            <button type="button" className="btn btn-plain" aria-busy={dl.busy || undefined} onClick={() => void dl.run()}>
              Download<span className="sr-only"> {e.name}</span>
            </button>
          )}
          {!confirming && (
            <ActionButton tone="plain" role={role} need="developer" onClick={() => setConfirming(true)}>
              Delete<span className="sr-only"> {e.name}</span>
            </ActionButton>
          )}
          {confirming && (
            <fieldset aria-label={`Confirm deleting ${e.name}`} style={{ border: 0, padding: 0, margin: 0, display: 'inline' }}>
              <span className="warn-text">
                Delete {e.name}
                {e.type === 'dir' ? ' and everything in it' : ''}?
              </span>{' '}
              <ActionButton
                tone="danger"
                role={role}
                need="developer"
                busy={del.busy}
                onClick={async () => {
                  if (await del.run()) props.onChanged();
                }}
              >
                Yes, delete
              </ActionButton>
              <button type="button" className="btn btn-plain" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </fieldset>
          )}
        </div>
        <ErrorNotice error={del.error} title={`${e.name} not deleted`} />
        <ErrorNotice error={dl.error} title={`${e.name} not downloaded`} />
      </td>
    </tr>
  );
}

export function FileManager(props: { env: Environment; role: Role | undefined }) {
  const { env, role } = props;
  const [dir, setDir] = useState('');
  const [open, setOpen] = useState<string>();
  // an environment on no app server has no files to ask for (the API would answer 409)
  const placed = env.serverIds.length > 0;
  const list = useApi(placed ? `files:${env.id}:${dir}` : null, (c) => c.files.list(env.id, dir));
  const [upload, setUpload] = useState<File>();
  const [folder, setFolder] = useState('');
  const put = useAction(async (c, f: File) => {
    if (f.size > MAX_BYTES) throw new Error(`${f.name} is ${size(f.size)}; files up to 5 MiB can be uploaded here`);
    return c.files.write(env.id, join(dir, f.name), new Uint8Array(await f.arrayBuffer()));
  });
  const mk = useAction((c, name: string) => c.files.mkdir(env.id, join(dir, name)));
  const uploadId = useId();
  const folderId = useId();
  const go = (p: string) => {
    setDir(p);
    setOpen(undefined);
  };
  return (
    <>
      <Breadcrumbs path={dir} onGo={go} />
      {open && <FileView key={open} env={env} path={open} role={role} onClose={() => setOpen(undefined)} onSaved={list.reload} />}
      {!placed && <Empty>Not on an app server yet: the files show once the environment is placed.</Empty>}
      {list.loading && !list.data && <Loading label="Listing the files…" />}
      <ErrorNotice error={list.error} title="Could not list this folder" />
      {list.data && list.data.entries.length === 0 && <Empty>This folder is empty.</Empty>}
      {list.data && list.data.entries.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Files in wp-content/{dir}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Size</th>
                <th scope="col">Modified</th>
                <th scope="col">Mode</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.entries.map((e) => (
                <EntryRow
                  key={e.name}
                  env={env}
                  dir={dir}
                  e={e}
                  role={role}
                  onOpenDir={go}
                  onOpenFile={setOpen}
                  onChanged={() => {
                    if (open === join(dir, e.name)) setOpen(undefined);
                    list.reload();
                  }}
                />
              ))}
            </tbody>
          </table>
          {list.data.truncated && <p className="muted small">Only the first 5000 entries are shown.</p>}
        </div>
      )}
      <Guard role={role} need="developer">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (upload && (await put.run(upload))) {
              setUpload(undefined);
              (e.target as HTMLFormElement).reset();
              list.reload();
            }
          }}
        >
          <div className="field">
            <label htmlFor={uploadId}>Upload a file here (up to 5 MiB)</label>
            <input id={uploadId} type="file" onChange={(e) => setUpload(e.target.files?.[0])} />
          </div>
          <ActionButton type="submit" role={role} need="developer" busy={put.busy} disabled={!upload}>
            Upload
          </ActionButton>
        </form>
        <ErrorNotice error={put.error} title="Not uploaded" />
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (folder && (await mk.run(folder))) {
              setFolder('');
              list.reload();
            }
          }}
        >
          <div className="field">
            <label htmlFor={folderId}>New folder</label>
            <input
              id={folderId}
              value={folder}
              onChange={(e) => setFolder(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </div>
          <ActionButton type="submit" role={role} need="developer" busy={mk.busy} disabled={!folder}>
            Create folder
          </ActionButton>
        </form>
        <ErrorNotice error={mk.error} title="Folder not created" />
      </Guard>
    </>
  );
}
