"""Sensor analysis: what a camera's frames say of its sensor — system gain, read noise, full well, dark current,
linearity — and whether a bias clips at the offset in use; numpy only, on the pixels of a region of interest."""
