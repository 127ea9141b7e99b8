#!/bin/sh
# triplane/web entrypoint: renders the per-site request body limit from the environment
# (nginx has no env expansion), then execs nginx in the foreground.
set -eu
size="${NGINX_CLIENT_MAX_BODY_SIZE:-64m}"
case "$size" in
  *[!0-9kKmMgG]*|'') echo "triplane-web: bad NGINX_CLIENT_MAX_BODY_SIZE '$size'" >&2; exit 64 ;;
esac
mkdir -p /etc/nginx/triplane-runtime
printf 'client_max_body_size %s;\n' "$size" > /etc/nginx/triplane-runtime/body-size.conf
exec nginx -c /etc/nginx/nginx.conf "$@"
