"""keras_transfer.optimizers."""
