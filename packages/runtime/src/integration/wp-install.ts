import type { HttpResponse } from './http.ts';
import { http } from './http.ts';

/**
 * Non-interactive WordPress install (POST /wp-admin/install.php?step=2), as the provisioning
 * job will do it. Returns the installer's response (200 with "Success!" on a fresh site, 200
 * with "Already Installed" on an installed one). `headers.host` sets the site URL WordPress records.
 * Used by the agent (packages/agent/src/wordpress/tasks.ts).
 */
export async function installWordPress(
  base: string,
  opts: {
    title: string;
    user: string;
    password: string;
    email: string;
    headers?: Record<string, string>;
    /** Let search engines index the site (WordPress' blog_public); default true — a staging copy sets it off. */
    public?: boolean;
  },
): Promise<HttpResponse> {
  return http(`${base}/wp-admin/install.php?step=2`, {
    form: {
      weblog_title: opts.title,
      user_name: opts.user,
      admin_password: opts.password,
      admin_password2: opts.password,
      pw_weak: 'on',
      admin_email: opts.email,
      blog_public: opts.public === false ? '0' : '1',
      language: '',
    },
    ...(opts.headers ? { headers: opts.headers } : {}),
    timeoutMs: 120_000,
  });
}
