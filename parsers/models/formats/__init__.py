"""One module per model format: detection helpers and an ``inspect`` function each."""
