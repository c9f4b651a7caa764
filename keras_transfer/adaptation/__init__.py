"""keras_transfer.adaptation."""
