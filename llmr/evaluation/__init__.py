"""Evaluation: few-shot prompts, the LLM evaluation, metrics, teacher/LLM agreement."""
