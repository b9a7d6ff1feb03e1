"""Training: scored groups, the training loop, the reward model, distillation, CPU kernels."""
