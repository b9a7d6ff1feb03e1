"""The models: the causal LM (scoring and evaluation), the bi-encoder, the cross-encoder."""
