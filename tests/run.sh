#!/usr/bin/env bash
# The test command README documents: configure, build, run every test layer
# (unit, fuzz smoke, integration with real BPF when root). Usage: tests/run.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j 1
