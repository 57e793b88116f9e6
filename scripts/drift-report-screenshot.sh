#!/usr/bin/env bash
# Regenerates docs/images/drift-report.png: the drift report of the test fixture (a taxi-trips
# policy, 2 of 5 features drifted, 12 chunks, segments, quality, performance, 8 earlier runs)
# rendered by headless Chromium at 1280 px. Runs the "Drift report in Chromium" test with
# CAPSTAN_REPORT_SCREENSHOT set; the size is CAPSTAN_REPORT_SCREENSHOT_SIZE (width,height).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/images
swift build --build-tests >/dev/null
CAPSTAN_REPORT_SCREENSHOT="$PWD/docs/images/drift-report.png" \
CAPSTAN_REPORT_SCREENSHOT_SIZE="${CAPSTAN_REPORT_SCREENSHOT_SIZE:-1280,2710}" \
  swift test --skip-build --filter DriftReportRenderTests
ls -l docs/images/drift-report.png
