#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing outside Cargo is needed yet; system packages the suite comes to need are installed here
# (apt-get) so that a fresh machine passes the same way CI does.

cargo test --workspace --all-features --locked
