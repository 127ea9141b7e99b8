import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase } from '@triplane/control/testing/postgres';
import { credentialsPath } from '../cli/credentials.ts';
import { type ControlProcess, cliEnv, freePort, startControl, triplane } from './cli.ts';

/**
 * The real `triplane` command (bin/triplane) against a real `triplane control` on 127.0.0.1:
 * what a script sees — stdout, JSON and exit codes. Run for SQLite by cli.sqlite.test.ts and
 * for PostgreSQL by cli.postgres.test.ts (two files, so the test runner runs them in parallel).
 */
export function cliSuite(dialect: 'sqlite' | 'postgres'): void {
  describe(`triplane CLI against control (${dialect})`, { timeout: 600_000 }, () => {
    let cp: ControlProcess;
    let dropDb: (() => Promise<void>) | undefined;

    before(async () => {
      let databaseUrl: string | undefined;
      if (dialect === 'postgres') {
        const db = await createTestDatabase();
        databaseUrl = db.url;
        dropDb = db.drop;
      }
      cp = await startControl({ databaseUrl });
    });
    after(async () => {
      const code = await cp?.stop();
      await dropDb?.();
      assert.equal(code, 0, `control must stop cleanly on SIGTERM:\n${cp?.output()}`);
    });

    const run = (args: string[], extra?: Record<string, string | undefined>, input?: string) =>
      triplane(args, { env: cp.env(extra), ...(input === undefined ? {} : { input }) });
    const json = <T = any>(r: { stdout: string; stderr: string; code: number | null }): T => {
      assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    };

    test('init is idempotent: a second run creates nothing and says so', async () => {
      const storeArgs = ['--data-dir', cp.dataDir, ...(cp.databaseUrl ? ['--database-url', cp.databaseUrl] : [])];
      const again = await run(['init', ...storeArgs]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /already initialized: nothing created/);
      assert.doesNotMatch(again.stdout, /^token:/m);
      const j = json(await run(['init', ...storeArgs, '--json']));
      assert.equal(j.created, false);
      assert.equal(j.token, null);
      assert.match(j.orgId, /^org_/);
      assert.match(j.userId, /^usr_/);
    });

    test('login checks the token and saves it (0600); later commands use it', async () => {
      const env = cliEnv(cp.home);
      const bad = await triplane(['login', '--api', cp.url, '--token', 'tpl_wrongwrongwrongwrong'], { env });
      assert.equal(bad.code, 3, bad.stderr);
      assert.match(bad.stderr, /TRIPLANE_ERR_UNAUTHENTICATED/);
      const ok = await triplane(['login', '--api', `${cp.url}/api/v1/`, '--token', cp.token], { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /logged in to http:\/\/127\.0\.0\.1:\d+ as owner@triplane\.local/);
      const path = credentialsPath(env);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const who = await triplane(['whoami', '--json'], { env });
      assert.equal(json(who).user.email, 'owner@triplane.local');
      // The environment overrides the saved login.
      const overridden = await triplane(['whoami'], { env: { ...env, TRIPLANE_TOKEN: 'tpl_wrongwrongwrongwrong' } });
      assert.equal(overridden.code, 3);
    });

    test('site create waits for provisioning; list, show and delete with --json', async () => {
      const created = json(
        await run(['site', 'create', '--name', 'shop', '--kind', 'woocommerce', '--domain', 'Shop.Example.test', '--json']),
      );
      assert.equal(created.site.name, 'shop');
      assert.equal(created.site.kind, 'woocommerce');
      assert.equal(created.site.status, 'active');
      assert.equal(created.job.state, 'succeeded');
      assert.equal(created.environment.name, 'production');
      assert.deepEqual(
        created.domains.map((d: { hostname: string }) => d.hostname),
        ['shop.example.test'],
      );

      const list = json(await run(['site', 'list', '--json']));
      assert.deepEqual(
        list.items.map((s: { name: string }) => s.name),
        ['shop'],
      );
      const human = await run(['site', 'list']);
      assert.equal(human.code, 0);
      assert.match(human.stdout, /^NAME\s+ID\s+KIND/m);
      assert.match(human.stdout, /^shop\s+site_/m);

      const shown = json(await run(['site', 'show', 'shop', '--json']));
      assert.equal(shown.id, created.site.id);
      assert.equal(shown.environments[0].name, 'production');
      assert.equal(shown.domains[0].primary, true);
      const byId = json(await run(['site', 'show', created.site.id, '--json']));
      assert.equal(byId.name, 'shop');

      const noWait = json(await run(['site', 'create', 'blog', '--no-wait', '--json']));
      assert.equal(noWait.site.status, 'provisioning');
      assert.ok(['queued', 'running', 'succeeded'].includes(noWait.job.state));
      const watched = await run(['job', 'watch', noWait.job.id]);
      assert.equal(watched.code, 0, watched.stderr);
      assert.match(watched.stdout, /succeeded/);

      // Deleting needs the name, typed or passed: not confirmed → usage error, nothing deleted.
      const unconfirmed = await run(['site', 'delete', 'blog']);
      assert.equal(unconfirmed.code, 2);
      assert.match(unconfirmed.stderr, /--confirm blog/);
      const wrong = await run(['site', 'delete', 'blog', '--confirm', 'shop']);
      assert.equal(wrong.code, 2);
      const deleted = json(await run(['site', 'delete', 'blog', '--confirm', 'blog', '--json']));
      assert.equal(deleted.site.name, 'blog');
      assert.equal(deleted.job.state, 'succeeded');
      const gone = await run(['site', 'show', 'blog']);
      assert.equal(gone.code, 4, gone.stderr);
    });

    test('exit codes: 3 bad token, 4 unknown site, 5 duplicate, 7 unreachable, 2 usage', async () => {
      const badToken = await run(['site', 'list'], { TRIPLANE_TOKEN: 'tpl_wrongwrongwrongwrong' });
      assert.equal(badToken.code, 3, badToken.stderr);
      const noCreds = await triplane(['site', 'list'], { env: cliEnv(`${cp.home}-nobody`) });
      assert.equal(noCreds.code, 3, noCreds.stderr);

      const unknown = await run(['site', 'show', 'no-such-site']);
      assert.equal(unknown.code, 4, unknown.stderr);
      assert.match(unknown.stderr, /TRIPLANE_ERR_NOT_FOUND/);
      const unknownId = await run(['site', 'show', 'site_0000000000000000']);
      assert.equal(unknownId.code, 4, unknownId.stderr);

      const first = await run(['site', 'create', 'dup', '--no-wait']);
      assert.equal(first.code, 0, first.stderr);
      const dup = await run(['site', 'create', 'dup', '--no-wait']);
      assert.equal(dup.code, 5, dup.stderr);
      assert.match(dup.stderr, /TRIPLANE_ERR_ALREADY_EXISTS/);

      const port = await freePort();
      const unreachable = await run(['site', 'list'], { TRIPLANE_API: `http://127.0.0.1:${port}` });
      assert.equal(unreachable.code, 7, unreachable.stderr);
      assert.match(unreachable.stderr, /cannot reach the API/);

      for (const args of [
        ['bogus'],
        ['site', 'create'],
        ['site', 'create', 'x', '--kind', 'cobol'],
        ['site', 'list', '--nope'],
      ]) {
        const r = await run(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      }
      const invalid = await run(['site', 'create', 'Not_A_Slug', '--no-wait']);
      assert.equal(invalid.code, 1, invalid.stderr);
      assert.match(invalid.stderr, /TRIPLANE_ERR_VALIDATION/);
      const help = await run(['--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: triplane/);
    });

    test('env, domain, job and audit verbs', async () => {
      const c = json(await run(['site', 'create', 'store', '--domain', 'store.example.test', '--json']));
      const envs = json(await run(['env', 'list', 'store', '--json']));
      assert.deepEqual(
        envs.items.map((e: { name: string }) => e.name),
        ['production'],
      );
      const prod = json(await run(['env', 'show', 'store', 'production', '--json']));
      assert.equal(prod.id, c.environment.id);

      const upd = json(await run(['env', 'update', 'store', 'production', '--php-memory', '512', '--no-opcache', '--json']));
      assert.equal(upd.php.memoryLimitMb, 512);
      assert.equal(upd.php.opcache, false);
      assert.equal(upd.generation, prod.generation + 1);
      const stop = json(await run(['env', 'stop', 'store', '--json']));
      assert.equal(stop.environment.desiredState, 'stopped');
      const start = json(await run(['env', 'start', 'store', '--json']));
      assert.equal(start.environment.desiredState, 'running');
      const nothing = await run(['env', 'update', 'store']);
      assert.equal(nothing.code, 2);

      const staging = json(await run(['env', 'create', 'store', 'staging', '--json']));
      assert.equal(staging.environment.name, 'staging');

      const added = json(await run(['domain', 'add', 'store', 'www.store.example.test', '--json']));
      assert.equal(added.primary, false);
      const primary = json(await run(['domain', 'primary', 'store', 'www.store.example.test', '--json']));
      assert.equal(primary.primary, true);
      const domains = json(await run(['domain', 'list', 'store', '--json']));
      assert.deepEqual(domains.items.map((d: { hostname: string }) => d.hostname).sort(), [
        'store.example.test',
        'www.store.example.test',
      ]);
      const taken = await run(['domain', 'add', 'store', 'store.example.test']);
      assert.equal(taken.code, 5, taken.stderr);
      const removed = await run(['domain', 'remove', 'store', 'store.example.test']);
      assert.equal(removed.code, 0, removed.stderr);

      const jobs = json(await run(['job', 'list', '--site', 'store', '--json']));
      assert.ok(jobs.items.some((j: { kind: string }) => j.kind === 'site.provision'));
      const shown = json(await run(['job', 'show', c.job.id, '--json']));
      assert.equal(shown.state, 'succeeded');
      assert.ok(Array.isArray(shown.logs));

      const audit = json(await run(['audit', '--action', 'site.create', '--since', '1h', '--json']));
      assert.ok(audit.items.length >= 1);
      assert.equal(audit.items[0].action, 'site.create');
    });

    test('org, member, token and server verbs', async () => {
      const org = json(await run(['org', 'create', 'agency', '--name', 'The Agency', '--json']));
      assert.equal(org.slug, 'agency');
      const orgs = json(await run(['org', 'list', '--json']));
      assert.ok(orgs.items.some((o: { slug: string }) => o.slug === 'agency'));
      const members = json(await run(['member', 'list', '--org', 'agency', '--json']));
      assert.ok(members.items.length >= 1);

      const tok = json(await run(['token', 'create', '--name', 'ci', '--json']));
      assert.match(tok.token, /^tpl_/);
      const withNew = await run(['whoami'], { TRIPLANE_TOKEN: tok.token });
      assert.equal(withNew.code, 0, withNew.stderr);
      const tokens = json(await run(['token', 'list', '--json']));
      assert.ok(tokens.items.some((t: { id: string }) => t.id === tok.id));
      assert.ok(!JSON.stringify(tokens).includes(tok.token), 'a listed token never shows its secret');
      assert.equal((await run(['token', 'revoke', tok.id])).code, 0);
      assert.equal((await run(['whoami'], { TRIPLANE_TOKEN: tok.token })).code, 3);

      const srv = json(await run(['server', 'create', 'app-1', '--json']));
      assert.match(srv.joinToken, /^tpj_/);
      const servers = json(await run(['server', 'list', '--json']));
      assert.ok(servers.items.some((x: { name: string }) => x.name === 'app-1'));
      assert.equal((await run(['server', 'delete', 'app-1'])).code, 0);
    });
  });
}
