#!/usr/bin/env bash
# Installs the outside programs the interop tests (interop/) run against, on
# a clean Debian machine (as root, or with sudo available). Idempotent: a
# second run only re-checks. .ci/run calls it before
#
#	cd interop && SWITCHYARD_INTEROP=1 go test -race -count=1 ./...
#
# where a missing peer fails the test instead of skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages, one per peer program. Add new peers here; the command
# each provides is checked so that an installed machine skips apt entirely.
declare -A packages=(
	[chromium]=chromium    # headless browser: interop/websocket_test.go, h2_test.go (WebSocket over HTTP/2)
	[node]=nodejs          # Node's ws client, and its built-in http2 module (extended CONNECT): interop/websocket_test.go, h2_test.go
	[npm]=npm
	[curl]=curl            # curl --http2 (h2c by Upgrade): interop/h2c_test.go
	[nghttp]=nghttp2-client # nghttp -u (h2c by Upgrade): interop/h2c_test.go
	[nginx]=nginx-light    # reverse proxy in front of two demos: interop/nginx_test.go
	[prometheus]=prometheus # server scraping the demo (interop/prometheus_test.go); promtool lints the exposition (prometheus/)
)
missing=()
# Debian puts nginx in /usr/sbin, off a non-root user's PATH.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
for cmd in "${!packages[@]}"; do
	have "$cmd" || missing+=("${packages[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "peers.sh: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -q
	as_root apt-get install -y -q "${missing[@]}"
fi
chromium --version 2>/dev/null || true
node --version
# interop/node/h2client.mjs needs nothing from npm: Node's own http2 (nghttp2).
node -p '"node http2: nghttp2 " + process.versions.nghttp2'
curl --version | head -n 1
nghttp --version
"$(command -v nginx || echo /usr/sbin/nginx)" -v
prometheus --version 2>&1 | head -n 1

# npm modules, pinned by interop/node/package-lock.json into
# interop/node/node_modules (ignored by git).
(
	cd interop/node
	# Skip npm (and the network) when every locked package is installed at
	# its locked version.
	if node -e '
		const fs = require("fs");
		const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
		for (const [path, p] of Object.entries(lock.packages)) {
			if (!path) continue;
			let v;
			try { v = JSON.parse(fs.readFileSync(path + "/package.json", "utf8")).version; } catch { process.exit(1); }
			if (v !== p.version) process.exit(1);
		}' 2>/dev/null; then
		echo "peers.sh: interop/node/node_modules matches package-lock.json"
	else
		npm ci --no-audit --no-fund
	fi
	node -e 'console.log("ws " + require("ws/package.json").version)'
)
