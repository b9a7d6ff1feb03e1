#!/usr/bin/env bash
# Seed replicates of one experiment: run the workflow once per training seed, each in its own
# folder, reusing what does not depend on the training seed (resources, data, BM25, round-0
# LLM scores, the evaluations of untrained retrievers), then combine them with `llmr seeds`.
#
#   scripts/seed_replicates.sh CONFIG OUTDIR [N_SEEDS=3] [extra snakemake args...]
#
# OUTDIR/seed0 runs first and in full; seeds 1..N-1 start from copies of its seed-independent
# artifacts (mtimes kept, so Snakemake sees them as up to date) and build every target, or
# only the targets in SEED_TARGETS (space-separated, e.g. "results/eval/llmr1/task_filter/
# metrics.json results/eval/agreement.csv" retrains and evaluates LLM-R alone). A seed folder
# that is already complete costs nothing. The combined tables go to OUTDIR/combined (seeds.md,
# seeds.csv, summary_seed_mean.csv).
set -euo pipefail
config=$(realpath "$1"); out=$(realpath -m "$2"); n=${3:-3}
shift $(( $# < 3 ? $# : 3 ))  # what remains goes to snakemake
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$repo/.venv/bin/snakemake" ] && PATH="$repo/.venv/bin:$PATH"  # the project environment
cores=${CORES:-2}
run() {  # run SEED_DIR SEED [snakemake args...]; the args (targets included) go before
    local dir=$1 seed=$2; shift 2  # --configfile and --config, which take every word after them
    (cd "$repo" && snakemake --snakefile "$repo/Snakefile" --directory "$dir" --cores "$cores" \
        "$@" --configfile "$config" --config training_seed="$seed")
}
mkdir -p "$out/seed0"
run "$out/seed0" 0 "$@"
shared=(resources results/data results/index/bm25 results/index/base results/candidates/round0.parquet
        results/candidates/round0.trec results/scores/round0.parquet results/eval/zero_shot
        results/eval/random results/eval/bm25 results/eval/base results/eval/gold_label
        results/eval/kmeans)
dirs=("$out/seed0")
for s in $(seq 1 $((n - 1))); do
    d="$out/seed$s"; mkdir -p "$d/results/eval" "$d/results/index" "$d/results/candidates" \
        "$d/results/scores"
    for p in "${shared[@]}"; do
        [ -e "$out/seed0/$p" ] && [ ! -e "$d/$p" ] && cp -a "$out/seed0/$p" "$d/$p"
    done
    # shellcheck disable=SC2086  # SEED_TARGETS is a list of paths
    run "$d" "$s" "$@" ${SEED_TARGETS:-}
    dirs+=("$d")
done
(cd "$repo" && llmr seeds "${dirs[@]}" --out "$out/combined")
