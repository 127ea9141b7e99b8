#!/bin/sh
# triplane/mariadb entrypoint. Idempotent on every start:
#  1. initialise the datadir (volume) if it is empty;
#  2. (re)create the site database and user and RE-APPLY the password from the
#     environment through --init-file, so re-rendered secrets can never lock a site out.
# Environment: MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD (required),
#              MARIADB_INNODB_BUFFER_POOL_SIZE (optional, e.g. 64M).
set -eu
: "${MARIADB_DATABASE:?MARIADB_DATABASE is required}"
: "${MARIADB_USER:?MARIADB_USER is required}"
: "${MARIADB_PASSWORD:?MARIADB_PASSWORD is required}"
case "$MARIADB_DATABASE$MARIADB_USER" in
  *[!A-Za-z0-9_]*) echo "triplane-mariadb: database and user names must match [A-Za-z0-9_]+" >&2; exit 64 ;;
esac
datadir=/var/lib/mysql
mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
chmod 0750 "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  echo "triplane-mariadb: initialising $datadir" >&2
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=socket >/dev/null
fi
# SQL string literal: escape backslashes, then single quotes.
pw=$(printf '%s' "$MARIADB_PASSWORD" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
init=/run/mysqld/triplane-init.sql
umask 077
cat > "$init" <<SQL
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'%' IDENTIFIED BY '$pw';
ALTER USER '$MARIADB_USER'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';
FLUSH PRIVILEGES;
SQL
chown mysql:mysql "$init"
unset MARIADB_PASSWORD pw
set -- --user=mysql --datadir="$datadir" --init-file="$init" "$@"
if [ -n "${MARIADB_INNODB_BUFFER_POOL_SIZE:-}" ]; then
  set -- "$@" --innodb-buffer-pool-size="$MARIADB_INNODB_BUFFER_POOL_SIZE"
fi
exec mariadbd "$@"
