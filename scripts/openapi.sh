#!/bin/sh
# Regenerate docs/openapi.json, the committed snapshot of GET /api/v1/openapi.json, after a
# deliberate API change (the test `the_committed_snapshot_is_the_generated_document` fails
# until it is regenerated and committed).
set -eu
cd "$(dirname "$0")/.."
UPDATE_OPENAPI=1 cargo test --test api the_committed_snapshot_is_the_generated_document
git --no-pager diff --stat -- docs/openapi.json
