"""LLM scoring of candidate demonstrations (the reward signal)."""
