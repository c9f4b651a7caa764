"""keras_transfer.callbacks."""
