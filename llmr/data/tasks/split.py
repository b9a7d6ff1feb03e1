"""Deterministic train/test splitting."""

from __future__ import annotations

import hashlib

import numpy as np


def task_rng(task: str, seed: int) -> np.random.Generator:
    """A random generator determined by the task name and the seed only."""
    h = int(hashlib.sha1(f"{task}:{seed}".encode()).hexdigest()[:8], 16)
    return np.random.default_rng(h)


def split_indices(
    n: int,
    task: str,
    seed: int,
    test_fraction: float,
    max_train: int | None,
    max_test: int | None,
) -> tuple[list[int], list[int]]:
    """Shuffle 0..n-1 by (task, seed); return (train, test) index lists."""
    perm = task_rng(task, seed).permutation(n).tolist()
    n_test = max(1, int(round(n * test_fraction))) if n > 1 else 0
    test, train = perm[:n_test], perm[n_test:]
    if max_test is not None:
        test = test[:max_test]
    if max_train is not None:
        train = train[:max_train]
    return train, test
