#!/usr/bin/env bash
# The sequence a newcomer runs, as a newcomer meets it: a fresh clone, empty pip and cache
# folders, then `make demo`, `make test`, `make demo` again. Prints each step's wall time.
#
#   scripts/fresh_machine_check.sh              # once, from this repository's committed HEAD
#   scripts/fresh_machine_check.sh --runs 3     # three times in a row, each from scratch
#   scripts/fresh_machine_check.sh --keep REPO  # keep the throw-away folders; clone REPO
#
# Each run clones into a new temporary folder and points pip's cache and every cache folder
# the tools use (XDG, Hugging Face, torch, matplotlib) inside it, so nothing from this
# machine's warm caches helps. Debian packages (Chromium, for `make test`) are system-wide:
# the first run installs them, later runs find them. Stops at the first failing step.
set -euo pipefail

runs=1
keep=0
repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) repo="$1"; shift ;;
    esac
done

results=()

step() {  # step RUN NAME COMMAND...: run it, log it, record its seconds
    local run="$1" name="$2"; shift 2
    local log="$work/$(echo "$name" | tr -d '()' | tr ' ' '_').log"
    local start=$SECONDS
    echo "== run $run: $name (log: $log)"
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "FAILED: run $run: $name after $((SECONDS - start)) s"
        exit 1
    fi
    local seconds=$((SECONDS - start))
    results+=("$run|$name|$seconds")
    echo "   ok in $seconds s"
}

for run in $(seq 1 "$runs"); do
    work="$(mktemp -d /tmp/merr-fresh.XXXXXX)"
    export PIP_CACHE_DIR="$work/cache/pip"
    export XDG_CACHE_HOME="$work/cache"
    export HF_HOME="$work/cache/huggingface"
    export TORCH_HOME="$work/cache/torch"
    export MPLCONFIGDIR="$work/cache/matplotlib"
    git clone -q "$repo" "$work/repo"
    echo "run $run: $(git -C "$work/repo" log --oneline -1) in $work"
    step "$run" "make demo" make -C "$work/repo" demo
    grep -E "^(stage|audio|synthesize|[0-9]+ samples)" "$work/make_demo.log" | sed 's/^/   /' || true
    step "$run" "make test" make -C "$work/repo" test
    grep -E "passed|failed" "$work/make_test.log" | tail -n 1 | sed 's/^/   /' || true
    step "$run" "make demo (again)" make -C "$work/repo" demo
    if [ "$keep" = 0 ]; then
        rm -rf "$work"
    fi
done

echo
printf '%-4s %-20s %8s\n' run step seconds
for row in "${results[@]}"; do
    IFS='|' read -r run name seconds <<<"$row"
    printf '%-4s %-20s %8s\n' "$run" "$name" "$seconds"
done
