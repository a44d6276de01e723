"""Real camera models' colour matrices: facts from Adobe's DNG profiles, as LibRaw tabulates them.

Each entry is Adobe's DNG ColorMatrix (XYZ -> camera RGB, calibrated for D65) of a camera model,
as listed in LibRaw's ``adobe_coeff`` table (stored there x 10000). :data:`TRAIN_CAMERAS` make the
learned developer's training data; :data:`EVAL_CAMERAS` are held out for its evaluation.
:data:`TYPICAL_CAMERA` (their mean) stands in for files that carry no matrix at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EVAL_CAMERAS", "TRAIN_CAMERAS", "TYPICAL_CAMERA", "Camera"]

@dataclass(frozen=True)
class Camera:
    """A camera model: its name and Adobe DNG ColorMatrix (XYZ -> camera, D65)."""

    name: str
    xyz_to_cam: np.ndarray

    @property
    def rgb_to_cam(self) -> np.ndarray:
        """Linear sRGB -> camera with rows summing to 1 (D65 white -> camera (1, 1, 1))."""
        from rawcolour.camera_colour import SRGB_TO_XYZ

        m = self.xyz_to_cam @ SRGB_TO_XYZ
        return m / m.sum(axis=1, keepdims=True)


def _cameras(table: dict[str, tuple[int, ...]]) -> tuple[Camera, ...]:
    return tuple(Camera(name, np.array(v, np.float64).reshape(3, 3) / 10000.0) for name, v in table.items())


TRAIN_CAMERAS = _cameras({
    "Canon EOS 5D Mark II": (4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651),
    "Canon EOS 5D Mark III": (6722, -635, -963, -4287, 12460, 2028, -908, 2162, 5668),
    "Canon EOS 6D": (7034, -804, -1014, -4420, 12564, 2058, -851, 1994, 5758),
    "Canon EOS-1Ds Mark III": (5859, -211, -930, -8255, 16017, 2353, -1732, 1887, 7448),
    "Canon PowerShot G7 X": (9602, -3823, -937, -2984, 11495, 1675, -407, 1415, 5049),
    "Nikon D700": (8139, -2171, -663, -8747, 16541, 2295, -1925, 2008, 8093),
    "Nikon D7000": (8198, -2239, -724, -4871, 12389, 2798, -1043, 2050, 7181),
    "Nikon D90": (7309, -1403, -519, -8474, 16008, 2622, -2434, 2826, 8064),
    "Sony NEX-5N": (5991, -1456, -455, -4764, 12135, 2980, -707, 1425, 6701),
    "Sony ILCE-7RM3": (6640, -1847, -503, -5238, 13010, 2474, -993, 1673, 6527),
    "Sony DSC-RX100M7": (10315, -4390, -937, -4859, 12734, 2365, -734, 1537, 5997),
    "Olympus E-M10": (8380, -2630, -639, -2887, 10725, 2496, -627, 1427, 5438),
    "Panasonic DMC-GX7": (7610, -2780, -576, -4614, 12195, 2733, -1375, 2393, 6490),
    "Pentax K-1": (8596, -2981, -639, -4202, 12046, 2431, -685, 1424, 6122),
    "Samsung NX1": (10686, -4042, -1052, -3595, 13238, 276, -464, 1259, 5931),
    "Samsung Galaxy S7": (9927, -3704, -1024, -3935, 12758, 1257, -389, 1512, 4993),
})
EVAL_CAMERAS = _cameras({
    "Canon EOS 5D Mark IV": (6446, -366, -864, -4436, 12204, 2513, -952, 2496, 6348),
    "Nikon D850": (10405, -3755, -1270, -5461, 13787, 1793, -1040, 2015, 6785),
    "Sony ILCE-7M3": (7374, -2389, -551, -5435, 13162, 2519, -1006, 1795, 6552),
    "Fujifilm X100": (12161, -4457, -1069, -5034, 12874, 2400, -795, 1724, 6904),
    "Panasonic DC-GH5": (7641, -2336, -605, -3218, 11299, 2187, -485, 1338, 5121),
    "Leica M10": (9090, -3342, -740, -4006, 13456, 493, -569, 2266, 6871),
})

TYPICAL_CAMERA = Camera("typical camera (mean of the training cameras)",
                        np.mean([c.xyz_to_cam for c in TRAIN_CAMERAS], axis=0))
