"""Training: pre-training views per mode, the Lightning loop, checkpoints."""
