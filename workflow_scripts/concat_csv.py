"""Rule agreement_table → llmr.core.io.concat_csv."""

from llmr.core.io import concat_csv
from llmr.core.stage import run

run(concat_csv, snakemake.log[0], files=list(snakemake.input), out=snakemake.output[0])
