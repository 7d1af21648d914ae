"""Capture one frame to a FITS file: from an attached QHY268/QHY600, or from an emulated one when none is found.

Until the INDI driver lands this is the end-to-end path a newcomer can run: transport -> protocol -> decoder ->
FITS. Usage: ``python3 -m indi_qhy_py.snapshot [--model QHY600M] [--exposure 1.0] [--out frame.fits]``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import decoder, protocol
from .emulator import EmulatedCamera, EmulatorBackend, StarField
from .frame import DecodeRequest
from .models import RUNTIME_PIDS, Family, family_for_pid, model_by_name, resolve_model
from .protocol import Command
from .transport import Transport


def _command(transport: Transport, command: Command, **fields: int) -> None:
    transport.control_out(protocol.REQ_COMMAND, protocol.encode_command(command, **fields))


def _status(transport: Transport) -> protocol.Status:
    return protocol.decode_status(transport.control_in(protocol.REQ_STATUS, protocol.STATUS_LEN))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="QHY600M", help="model to emulate when no camera is attached")
    parser.add_argument("--exposure", type=float, default=1.0, help="seconds")
    parser.add_argument("--out", type=Path, default=Path("frame.fits"))
    parser.add_argument("--emulate", action="store_true", help="use the emulated camera even if one is attached")
    args = parser.parse_args(argv)

    devices = [] if args.emulate else Transport.find(RUNTIME_PIDS)
    if devices:
        source = "attached camera"
    else:
        camera = EmulatedCamera(model_by_name(args.model))
        camera.scene = StarField()
        devices = Transport.find(RUNTIME_PIDS, EmulatorBackend([camera]))
        source = "emulated camera (no QHY268/QHY600 attached)"
    transport = Transport(devices[0])
    transport.open()
    try:
        status = _status(transport)
        family = family_for_pid(devices[0].idProduct) or Family.QHY600
        model = resolve_model(family, status.colour, status.variant)
        print(f"{model.name} serial {status.serial} ({source}), sensor {status.temperature_c:.1f} C")
        _command(transport, Command.ROI, width=model.readout_width, x=0, height=model.readout_height, y=0)
        _command(transport, Command.TRANSFER, bits=16, ddr=1)
        _command(transport, Command.EXPOSURE, microseconds=round(args.exposure * 1e6))
        started = datetime.now(UTC)
        _command(transport, Command.START)
        while _status(transport).state != protocol.CameraState.FRAME_READY:
            time.sleep(0.01)
        layout = protocol.frame_layout(model.readout_width, model.readout_height, 16, model.variant.frame_header)
        raw = np.empty(layout.total_len, dtype=np.uint8)
        received = transport.read_frame(raw, layout.total_len,
                                        protocol.bulk_timeout_ms(layout.total_len, 100e6, args.exposure))
        frame = decoder.decode(raw, received, DecodeRequest.for_model(model))
    finally:
        transport.close()
    header = fits.Header()
    header["INSTRUME"] = model.name
    header["EXPTIME"] = args.exposure
    header["DATE-OBS"] = started.isoformat(timespec="milliseconds").replace("+00:00", "")
    header["FRAMESEQ"] = frame.meta.sequence
    header["INTEGRTY"] = frame.meta.verdict.value
    fits.PrimaryHDU(frame.pixels, header).writeto(args.out, overwrite=True)
    print(f"{frame.pixels.shape[1]}x{frame.pixels.shape[0]} frame, integrity {frame.meta.verdict.value}, "
          f"optical black {frame.meta.ob_mean:.1f} ADU -> {args.out}")
    return 0 if frame.meta.good else 1


if __name__ == "__main__":
    raise SystemExit(main())
