"""Run one pipeline stage in a child process that kills itself with SIGKILL (kill -9) at a
chosen point: the N-th model call (LLM scoring, reward scoring, evaluation), the end of
training step N, or (STAGE ``reward:save``/``retriever:save``) half-way through writing the
checkpoint of step N: weights and optimizer written, ``trainer_state.json`` not yet.

Usage: ``python killable.py STAGE KILL_AT KWARGS_JSON`` with STAGE one of score, reward, retriever,
reward:save, retriever:save, reward_score, evaluate. Used by test_resume.py; not a test module.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(stage: str, kill_at: int, kwargs: dict) -> None:
    if stage == "score":
        from llmr.models import lm
        from llmr.scoring import score

        real, calls = lm.score_continuations, []

        def killing(*a, **k):
            calls.append(1)
            if len(calls) == kill_at:
                _die()
            return real(*a, **k)

        lm.score_continuations = killing
        score.score_shard(**kwargs)
    elif stage.split(":")[0] in ("reward", "retriever"):
        from transformers import Trainer, TrainerCallback

        from llmr.training import loop

        if stage.endswith(":save"):
            real_rng = Trainer._save_rng_state  # written after the weights and optimizer

            def rng_then_die(self, output_dir):
                real_rng(self, output_dir)
                if self.state.global_step == kill_at:
                    _die()

            Trainer._save_rng_state = rng_then_die
        else:

            class KillAtStep(TrainerCallback):
                def on_step_end(self, args, state, control, **kw):
                    if state.global_step == kill_at:
                        _die()

            loop.EXTRA_CALLBACKS[:] = [KillAtStep()]
        if stage.startswith("reward"):
            from llmr.training.reward import train_reward

            train_reward(**kwargs)
        else:
            from llmr.training.distill import train_retriever

            train_retriever(**kwargs)
    elif stage == "reward_score":
        from llmr.training import reward

        real_load, calls = reward.load_reward_model, []

        def load_with_kill(*a, **k):
            model, tok = real_load(*a, **k)

            def pre_hook(module, args, kw):
                calls.append(1)
                if len(calls) == kill_at:
                    _die()

            model.register_forward_pre_hook(pre_hook, with_kwargs=True)
            return model, tok

        reward.load_reward_model = load_with_kill
        reward.reward_score(**kwargs)
    elif stage == "evaluate":
        from llmr.evaluation import evaluate
        from llmr.models import lm

        calls = []
        for name in ("score_options", "constrained_decode", "greedy_generate"):
            real = getattr(lm, name)

            def killing(*a, _real=real, **k):
                calls.append(1)
                if len(calls) == kill_at:
                    _die()
                return _real(*a, **k)

            setattr(lm, name, killing)
        evaluate.evaluate(**kwargs)
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    print("finished without being killed")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
