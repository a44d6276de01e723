"""Training both papers' models: datasets, losses, stages, the loop."""
