#!/usr/bin/env bash
# The README's test command and the one .ci/run runs must be the same line.
set -euo pipefail
root="$1"
ci=$(grep -E '^scripts/install-deps.sh .*ctest' "$root/.ci/run")
grep -qxF "$ci" "$root/README.md" || { echo "README.md does not contain .ci/run's command: $ci"; exit 1; }
echo "README and .ci/run agree: $ci"
