"""indi_qhy_py: an INDI driver for QHY268 and QHY600 cameras, with an emulated camera under pyusb.

One subpackage per layer; a layer imports only the layers below it (and the base modules):

    base        errors, models (the camera table), protocol (request codes, byte layouts, frame format)
    emulator/   an emulated camera that plugs in under pyusb as a backend: the hardware, for tests and users
                without a camera
    usb/        pyusb transport, the camera link (transport + protocol: each request QHY's SDK makes), firmware
                loading, discovery
    decode/     raw frame bytes -> pixels + optical-black/overscan metadata + integrity verdict (Cython kernel)
    camera/     one camera: settings, exposures, cooling, reconnects; no INDI knowledge
    output/     FITS header and image (or XISF), PNG preview, where local uploads may be written
    analysis/   sensor statistics from frames: photon transfer (gain, read noise, full well), offset advice
    indi/       the INDI protocol and the CCD device, the driver process, a small client
    cli/        command-line tools: capture, sensor analysis, snapshot, install, firmware loader

``capture``, ``analyse`` and ``install`` at the top are only the short names of
``python3 -m indi_qhy_py.capture``, ``python3 -m indi_qhy_py.analyse`` and ``python3 -m indi_qhy_py.install``.
To check the rule: ``python3 -m pytest tests/base/test_layers.py`` reads every import in the package and fails on
one that runs upward.
"""

__version__ = "0.2.0"
