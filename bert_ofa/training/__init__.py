"""Training a supernet: distillation losses, the progressive-shrinking schedule, the OFA wrapper,
the trainer, the shared optimizer rule, checkpoints and the runtime."""
