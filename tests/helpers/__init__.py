"""Test-only helpers, importable from the tests as ``helpers`` (pytest's ``pythonpath``
setting in pyproject.toml puts tests/ on the path; scripts/gpu_check.py adds it itself).

- :mod:`helpers.tiny`: tiny random models, the tiny task suite, synthetic LLM scores;
- :mod:`helpers.workflow`: running the Snakemake workflow on the tiny suite
  (``.test/config.yaml``) as a non-root user.
"""
