"""keras_transfer.throughput."""
