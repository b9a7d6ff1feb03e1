"""Training hyperparameters are written once, in the config schema: the training stages and
TrainConfig take them without defaults, and llmr.core.schema hands direct callers exactly
the keyword arguments the rules pass."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from llmr.core.schema import section_defaults, training_defaults
from llmr.training.distill import train_retriever
from llmr.training.loop import TrainConfig, train_config
from llmr.training.reward import train_reward

PATHS = {"scores", "teacher", "passages", "tasks", "init_model", "out_dir", "metrics_out"}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize(
    "section, stage",
    [("reward", train_reward), ("retriever", train_retriever), ("epr", train_retriever)],
)
def test_stage_and_schema_agree_and_only_the_schema_has_defaults(section, stage):
    params = inspect.signature(stage).parameters
    named = {k for k, p in params.items() if p.kind is not p.VAR_KEYWORD} - PATHS
    given = set(training_defaults(section))
    # every setting the schema gives is taken by the stage or its TrainConfig, and back
    assert given <= named | TRAIN_FIELDS, given - named - TRAIN_FIELDS
    with_default = {k for k in named if params[k].default is not inspect.Parameter.empty}
    assert not with_default & given, f"defaults written twice: {with_default & given}"
    assert named - given <= {"freeze_position_embeddings"}, named - given


def test_train_config_has_no_defaults_but_resume():
    with_default = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert with_default == {"resume"}
    with pytest.raises(TypeError):
        TrainConfig(steps=1)  # the rest is required


def test_defaults_are_the_schema_sections():
    reward = training_defaults("reward")
    assert reward == section_defaults("reward") | {"heldback_fraction": reward["heldback_fraction"]}
    epr, retriever = training_defaults("epr"), training_defaults("retriever")
    assert (epr["kd_weight"], epr["contrastive_weight"]) == (0.0, 1.0)
    assert (
        retriever["kd_weight"] > 0 and retriever["pooling"] == section_defaults("models")["pooling"]
    )
    cfg = train_config(retriever, steps=7)
    assert cfg.steps == 7 and cfg.lr == retriever["lr"]
    section_defaults("retriever")["lr"] = -1.0  # a copy: the schema's values stay as they are
    assert section_defaults("retriever")["lr"] == retriever["lr"]
