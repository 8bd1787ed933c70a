#!/usr/bin/env bash
# Lays out every C++ and CUDA file of the repository by .clang-format (Debian clang-format 14).
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing: list the files whose layout differs and exit 1 if any
#                              (CTest's clang_format test; exit 77, skipped, without clang-format)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "SKIPPED: clang-format not found (Debian clang-format)"; exit 77; }
mapfile -t files < <(find cmake include cuda examples tests python tools -type f \
    \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cuh' -o -name '*.cu' \) | sort)
if [ "${1:-}" != "--check" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
bad=0
for f in "${files[@]}"; do
    if ! clang-format --dry-run -Werror "$f" > /dev/null 2>&1; then
        echo "not laid out by .clang-format: $f (run scripts/format.sh)"
        bad=1
    fi
done
[ "$bad" = 0 ] && echo "${#files[@]} files laid out by .clang-format"
exit "$bad"
