#!/usr/bin/env bash
# Download, where there is a package index, the wheels that `benchmarks/gpu_verify.sh` installs on
# the GPU machine (CPython 3.12, x86_64, glibc >= 2.28, CUDA torch installed, no network) into
# .whl/: torchlint's dependencies (libcst and its pyyaml, click, pathspec) and, to run the test
# suite there, pytest and its dependencies; for benchmarks/lsp_latency.py, pygls and its own.
# .whl/ is git-ignored: carry it to that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
wheels=(
    libcst==1.9.0 pyyaml==6.0.3 click==8.5.1 pathspec==1.1.1
    pytest==9.2.0 iniconfig==2.3.1 pluggy==1.7.0 packaging==26.3 pygments==2.21.0
    # benchmarks/lsp_latency.py on an idle many-core host
    pygls==2.1.1 lsprotocol==2025.0.0 cattrs==26.2.1 attrs==26.1.0 typing_extensions==4.16.0
)
for wheel in "${wheels[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 \
        -d .whl "$wheel"
done
ls -1 .whl
