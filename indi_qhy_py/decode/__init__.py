"""Decoding: the bytes of one frame read from the camera -> pixels, optical-black/overscan metadata and an
integrity verdict, by a Cython kernel with a numpy reference of the same contract."""
