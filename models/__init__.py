"""Shipped model weights (safetensors) and their cards; installed as the package `rawcolour._models`."""
