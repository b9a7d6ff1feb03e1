"""Session-wide tiny fixtures: random tiny models and the tiny task suite (no network)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """Path to a tiny random causal LM (LlamaForCausalLM) with its tokenizer."""
    from helpers.tiny import make_tiny_causal_lm

    return str(make_tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm")))


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """Path to a tiny random BERT encoder with its tokenizer."""
    from helpers.tiny import make_tiny_encoder

    return str(make_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder")))


@pytest.fixture(scope="session")
def tiny_suite_dir(tmp_path_factory):
    """Folder with the tiny suite in the paper's released format (.jsonl.gz)."""
    from helpers.tiny import write_tiny_suite

    return write_tiny_suite(tmp_path_factory.mktemp("tiny_suite"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, tiny_suite_dir):
    """Prepared tiny suite: dict of paths train/test/passages/tasks (Parquet)."""
    from llmr.core.schema import stage_defaults
    from llmr.data.tasks import prepare

    out = tmp_path_factory.mktemp("tiny_data")
    paths = {k: str(out / f"{k}.parquet") for k in ("train", "test", "passages", "tasks")}
    prepare(
        source="released",
        source_dir=str(tiny_suite_dir),
        tasks=["cls_sent", "mc_pick", "gen_echo"],
        held_out=["gen_echo"],
        out_train=paths["train"],
        out_test=paths["test"],
        out_passages=paths["passages"],
        out_tasks=paths["tasks"],
        **stage_defaults(prepare, "suite")
        | {"seed": 0, "max_train_per_task": None, "max_test_per_task": None, "test_fraction": 0.25},
    )
    return paths
