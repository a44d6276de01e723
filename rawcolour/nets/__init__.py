"""Pure nn.Modules for both tasks, each built from one frozen config dataclass.

The configs (rawcolour.nets.configs) are free of torch; the names below load their module on
first use, so asking about a network's config never imports torch.

>>> g = build_net("colorgan_unet", {"encoder_widths": [16, 32, 64, 128, 128, 128, 128],
...                                 "decoder_widths": [128, 128, 128, 64, 32, 16]})
>>> config_from_dict("colorgan_unet", config_to_dict(g.config)) == g.config
True
"""

from __future__ import annotations

from rawcolour import lazy_api

_CONFIGS = "rawcolour.nets.configs"
_BUILD = "rawcolour.nets.build"
# name -> module that defines it
_API = {
    "ARCHITECTURES": _BUILD,
    "build_net": _BUILD,
    "count_parameters": _BUILD,
    "init_weights": _BUILD,
    "fold_for_inference": "rawcolour.nets.fold",
    "meta_build": "rawcolour.nets.limits",
    "state_shapes": "rawcolour.nets.limits",
    "has_sample_statistics": "rawcolour.nets.norms",
    "make_norm": "rawcolour.nets.norms",
    "set_norm_stats_mode": "rawcolour.nets.norms",
    "MultiScaleDiscriminator": "rawcolour.nets.patchgan",
    "PatchGAN": "rawcolour.nets.patchgan",
    "SGANDiscriminator": "rawcolour.nets.patchgan",
    "ColorGANGenerator": "rawcolour.nets.unet",
    "Pix2PixUNet": "rawcolour.nets.unet",
    "SGANGenerator": "rawcolour.nets.uresnet",
    "VGGFeatures": "rawcolour.nets.vgg",
    **{name: _CONFIGS for name in (
        "COLORGAN_RELEASED_CODE", "COLORGAN_RELEASED_CODE_DISC", "COLORGAN_TINY", "COLORGAN_TINY_DISC", "NORM_KINDS",
        "SGAN_TINY", "SGAN_TINY_DISC", "ColorGANConfig", "PatchGANConfig", "Pix2PixUNetConfig",
        "SGANDiscriminatorConfig", "SGANGeneratorConfig", "config_from_dict", "config_to_dict")},
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api(globals(), _API)
