"""Capture one frame to a FITS file without INDI: from an attached QHY268/QHY600, or an emulated one.

The camera layer alone (usb -> decode -> camera -> FITS), for checking a camera on a machine without indiserver.
Usage: ``python3 -m indi_qhy_py.cli.snapshot [--model QHY600M] [--exposure 1.0] [--out f.fits]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from astropy.io import fits

from ..camera import Camera
from ..output.fits_header import HeaderContext, frame_cards
from ..usb.discovery import backends, discover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="QHY600M", help="model to emulate when no camera is attached")
    parser.add_argument("--exposure", type=float, default=1.0, help="seconds")
    parser.add_argument("--out", type=Path, default=Path("frame.fits"))
    parser.add_argument("--firmware-dir", type=Path, help="directory holding QHY's QHY600.img / QHY268.img")
    parser.add_argument("--emulate", action="store_true", help="use the emulated camera even if one is attached")
    args = parser.parse_args(argv)

    infos, messages = ([], []) if args.emulate else discover(firmware_dir=args.firmware_dir)
    for message in messages:
        print(message)
    source = "attached camera"
    if not infos:
        infos, _ = discover(backends(args.model)[1:])
        source = "emulated camera (no QHY268/QHY600 attached)"
    camera = Camera(infos[0], on_event=lambda level, text: print(f"[{level}] {text}"))
    camera.connect()
    try:
        print(f"{camera.id} ({source})")
        frame = camera.start_exposure(args.exposure).result()
    finally:
        camera.disconnect()
    ctx = HeaderContext(frame_type="Light", read_mode_name=camera.model.read_mode(frame.settings.read_mode).name)
    header = frame_cards(camera.model, camera.id, frame, ctx)
    fits.PrimaryHDU(frame.pixels, header).writeto(args.out, overwrite=True)
    print(f"{frame.pixels.shape[1]}x{frame.pixels.shape[0]} frame, integrity {frame.meta.verdict.value}, "
          f"optical black {frame.meta.ob_mean:.1f} ADU -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
