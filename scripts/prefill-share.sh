#!/bin/sh
# The prefill measurement (issue 25): a holder with a business licence (企业), the catalog's
# example of type 001, applies for each other organisation type of the catalog; print the
# share of each type's required fields that "从已有证照填写" fills, the mean and the types
# below 50%. The same figures are recorded in docs/no-certificate-city.md (the test fails
# when they drift).
set -eu
cd "$(dirname "$0")/.."
cargo test --lib dept::prefill::measure::prefill_share -- --nocapture 2>&1 |
    grep -E '^[0-9]{3} |^organisation types|^below 50%|test result|panicked|left|right'
