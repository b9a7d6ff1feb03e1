"""Rule gather_scores → llmr.score.gather."""

from llmr.score import gather
from llmr.stage import run

run(gather, snakemake.log[0], shards=list(snakemake.input), out=snakemake.output[0])
