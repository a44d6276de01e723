"""Batch conversion for the CLI: collect inputs, plan outputs, run the conversions."""
