"""Dense text encoders: any Hugging Face encoder, mean or CLS pooling, L2 normalisation."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from llmr.core.device import autocast_context, pick_device

# texts per encoder forward pass when embedding queries and passages (inference only: it
# sets throughput and memory, not what is computed)
ENCODE_BATCH = 64


def load_encoder(path: str, device: str | None = None) -> tuple[PreTrainedModel, object]:
    """Load an encoder (model, tokenizer) from a local folder or hub id.

    Raises ValueError if ``path`` is a decoder-only (causal LM) checkpoint or missing.
    """
    local = str(path).startswith((".", "/", "~")) or str(path).count("/") >= 2
    if not Path(path).expanduser().exists() and (local or "/" not in str(path)):
        raise FileNotFoundError(f"encoder not found: {path} (no such model folder)")
    cfg = AutoConfig.from_pretrained(path)
    if getattr(cfg, "is_decoder", False) or any(
        a.endswith("ForCausalLM") for a in (getattr(cfg, "architectures", None) or [])
    ):
        raise ValueError(f"{path}: is a causal language model, not an encoder")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    model.to(device or pick_device()).eval()
    return model, tok


def pool(last_hidden: torch.Tensor, mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """Pool token states (B, L, H) with attention mask (B, L) into (B, H)."""
    if pooling == "cls":
        return last_hidden[:, 0]
    if pooling != "mean":
        raise ValueError(f"unknown pooling {pooling!r} (mean or cls)")
    m = mask.unsqueeze(-1).to(last_hidden.dtype)
    return (last_hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def embed(
    model: PreTrainedModel,
    batch: dict[str, torch.Tensor],
    pooling: str = "mean",
    normalize: bool = True,
) -> torch.Tensor:
    """Embed a tokenised batch: returns (B, H) float32, L2-normalised if ``normalize``."""
    out = model(**{k: v for k, v in batch.items() if k != "token_type_ids" or v is not None})
    emb = pool(out.last_hidden_state, batch["attention_mask"], pooling).float()
    return torch.nn.functional.normalize(emb, dim=-1) if normalize else emb


@torch.no_grad()
def encode_texts(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    pooling: str,
    batch_size: int = ENCODE_BATCH,
    normalize: bool = True,
    prefix: str = "",
    progress: bool = True,
    desc: str = "encode",
) -> np.ndarray:
    """Encode texts (``prefix`` prepended, truncated to ``max_length`` tokens) into an (N, H)
    float32 array, batching length-sorted texts."""
    if len(texts) == 0:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    device = next(model.parameters()).device
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    was_training = model.training
    model.eval()
    with contextlib.ExitStack() as stack:
        stack.enter_context(autocast_context(device))
        for start in tqdm(
            range(0, len(texts), batch_size), desc=desc, disable=not progress, mininterval=5
        ):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [prefix + texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            out[idx] = embed(model, batch, pooling, normalize).cpu().numpy()
    model.train(was_training)
    return out
