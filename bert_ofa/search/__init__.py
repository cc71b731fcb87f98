"""Hardware-aware search: latency models, accuracy scoring and predictors, search algorithms."""
