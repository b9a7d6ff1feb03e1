"""Rule gather_scores → llmr.scoring.score.gather."""

from llmr.core.stage import run
from llmr.scoring.score import gather

run(gather, snakemake.log[0], shards=list(snakemake.input), out=snakemake.output[0])
