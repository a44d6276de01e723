"""Samples shared by training and eval, synthetic RAW (unprocessing) and saliency maps."""
