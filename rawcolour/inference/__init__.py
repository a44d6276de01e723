"""Running a model on a whole picture: device and precision, tiling, decode -> model -> encode."""
