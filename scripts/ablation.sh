#!/usr/bin/env bash
# The reward-model ablation (docs/results/ablation.md): rerun LLM-R under each variant of
# config/ablation/, per training seed, starting from a finished seed-replicate run.
#
#   scripts/ablation.sh SEEDS_DIR OUTDIR VARIANT [VARIANT...]
#
# SEEDS_DIR holds seed0, seed1, ... from scripts/seed_replicates.sh with config.yaml. For each
# variant and seed (SEEDS, default "0 1 2"), OUTDIR/VARIANT/seedN starts as a copy of
# SEEDS_DIR/seedN (files hard-linked: every job replaces its outputs, it never writes into
# them; Snakemake's metadata copied), and Snakemake runs there with the variant's overlay
# over config.yaml. Its rerun triggers decide what reruns: a retriever setting retrains and
# re-evaluates LLM-R only, a teacher setting also relabels the candidates; the LLM scores,
# the reward model, llm_kd and BM25 are reused. TARGETS (default LLM-R's evaluation) are
# the files built. A finished variant folder costs nothing. Then:
#   llmr ablation OUTDIR --seeds-dir SEEDS_DIR --out docs/results
set -euo pipefail
seeds_dir=$(realpath "$1"); out=$(realpath -m "$2"); shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$repo/.venv/bin/snakemake" ] && PATH="$repo/.venv/bin:$PATH"  # the project environment
targets=${TARGETS:-results/eval/llmr1/task_filter/metrics.json}
for variant in "$@"; do
    overlay="$repo/config/ablation/$variant.yaml"
    [ -f "$overlay" ] || { echo "no such variant: $overlay" >&2; exit 2; }
    for s in ${SEEDS:-0 1 2}; do
        src="$seeds_dir/seed$s" d="$out/$variant/seed$s"
        [ -d "$src/results" ] || { echo "missing seed run: $src" >&2; exit 2; }
        if [ ! -d "$d" ]; then
            mkdir -p "$d.tmp/.snakemake"
            cp -al "$src/results" "$src/resources" "$d.tmp/"
            cp -a "$src/.snakemake/metadata" "$d.tmp/.snakemake/"
            mv "$d.tmp" "$d"
        fi
        # shellcheck disable=SC2086  # TARGETS is a list of paths
        (cd "$repo" && snakemake --snakefile "$repo/Snakefile" --directory "$d" \
            --cores "${CORES:-2}" $targets \
            --configfile "$repo/config.yaml" "$overlay" --config training_seed="$s")
    done
done
