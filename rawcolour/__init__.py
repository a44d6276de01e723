"""rawcolour: camera data to pictures with learned models (colourisation GAN, saliency RAW-to-RGB GAN)."""

__version__ = "0.1.0"
