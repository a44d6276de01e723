"""Choices the data modules offer, as plain Python (no numpy): rawcolour.train.config builds the
``rawcolour train`` options from them without importing the data code."""

from __future__ import annotations

__all__ = ["LAYOUTS", "WB_GAIN_RANGES", "ZURICH_WHITE"]

# Paired raw2rgb folder layouts (rawcolour.data.samples.list_raw_pairs); "auto" tells them apart.
LAYOUTS = ("auto", "zurich", "rawgan")

# The Zurich RAW-to-RGB mosaics' white level: 10-bit data that PyNET scales by 4 x 255
# (rawcolour.io.packed_png reads them; --white's default everywhere).
ZURICH_WHITE = 4.0 * 255

# White-balance gain ranges (red, blue) a synthetic camera is drawn from (rawcolour.data.unprocess).
# "brooks": Brooks et al.'s, fitted to modern cameras (green about twice as sensitive as red).
# "wide": also cameras whose raw data are nearly balanced already (gains near 1) and strongly
# blue-starved ones, so a model learns to judge white balance from the picture rather than from
# one family of sensors.
WB_GAIN_RANGES = {"brooks": ((1.9, 2.4), (1.5, 1.9)), "wide": ((1.0, 2.8), (1.0, 3.5))}
