"""Rule agreement_table → llmr.io.concat_csv."""

from llmr.io import concat_csv
from llmr.stage import run

run(concat_csv, snakemake.log[0], files=list(snakemake.input), out=snakemake.output[0])
