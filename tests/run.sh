#!/usr/bin/env bash
# The test command README documents: installs missing packages, configures,
# builds, and runs every test layer: unit, reader fuzz smoke, and integration
# tests with real BPF (those need root; without it they skip with the reason,
# or fail when NETTRAIL_TEST_REQUIRE_ALL=1). Usage: tests/run.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
bash tests/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_BUILD_RECORDER=ON -DNT_BUILD_TESTS=ON
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j 1
