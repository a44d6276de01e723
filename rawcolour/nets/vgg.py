"""VGG16/19 feature extractor for perceptual losses, from a state dict the caller gives.

The layer indices match torchvision's ``vgg16().features`` / ``vgg19().features``, so its
ImageNet state dict (keys without ``features.``) loads as is. The file the user provides
(``vgg16-397923af.pth``, or the same tensors as safetensors) is read by
:func:`rawcolour.interop_files.load_vgg_features`; nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

# Convs per block; a 2x2 max-pool follows each block.
_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_indices(arch: str) -> dict[str, int]:
    """Layer name (conv1_1 ...) -> index of that conv in torchvision's features Sequential."""
    names, i = {}, 0
    for b, n in enumerate(_BLOCKS[arch], start=1):
        for j in range(1, n + 1):
            names[f"conv{b}_{j}"] = i
            i += 2  # conv, ReLU
        i += 1  # max-pool
    return names


class VGGFeatures(nn.Module):
    """Frozen VGG features: RGB (B, 3, H, W) in [0, 1] -> list of the requested layers' maps.

    ``state_dict``: torchvision's features tensors, keys without ``features.`` (see `load_weights`);
    None leaves the convolutions at their random initialisation.
    """

    def __init__(
        self,
        arch: str = "vgg16",
        layers: Sequence[str] = ("conv4_3",),
        state_dict: Mapping[str, torch.Tensor] | None = None,
        pre_relu: bool = True,
        normalize_input: bool = True,
    ) -> None:
        super().__init__()
        if arch not in _BLOCKS:
            raise ValueError(f"unknown VGG {arch!r}; choose one of {', '.join(_BLOCKS)}")
        index = conv_indices(arch)
        unknown = [name for name in layers if name not in index]
        if unknown or not layers:
            raise ValueError(f"unknown {arch} layer(s) {unknown or list(layers)}; choose from {', '.join(index)}")
        self.arch, self.layer_names, self.pre_relu, self.normalize_input = arch, tuple(layers), pre_relu, normalize_input
        # Output taken after the conv (pre-ReLU) or after its ReLU.
        self.taps = [index[name] + (0 if pre_relu else 1) for name in layers]
        modules: list[nn.Module] = []
        cin = 3
        for n, w in zip(_BLOCKS[arch], _WIDTHS):
            for _ in range(n):
                modules += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU()]  # not in-place: pre-ReLU taps must survive
                cin = w
            modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules[: max(self.taps) + 1])  # truncated after the last tap
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state_dict is not None:
            self.load_weights(state_dict)
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Take the used layers' tensors from torchvision's features state dict (keys like ``0.weight``).

        Raises ValueError naming a missing key or a tensor of the wrong shape."""
        own = self.features.state_dict()
        missing = [k for k in own if k not in state_dict]
        if missing:
            raise ValueError(f"not a torchvision {self.arch} state dict: missing {', '.join(missing[:4])}")
        for k, t in own.items():
            if state_dict[k].shape != t.shape:
                raise ValueError(f"{k} has shape {tuple(state_dict[k].shape)}, {self.arch} needs {tuple(t.shape)}")
        self.features.load_state_dict({k: state_dict[k] for k in own})

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stays in eval mode: a frozen feature extractor (no BN or dropout anyway)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.normalize_input:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)  # (B, 3, H, W)
        taps: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)  # (B, C_i, H_i, W_i)
            if i in self.taps:
                taps[i] = x
        return [taps[i] for i in self.taps]
