"""Capture frames through indiserver, as any INDI client would, into FITS files and PNG previews.

Usage: ``python3 -m indi_qhy_py.capture [--host H] [--port P] [--device NAME] [--exposure S] [--count N]
[--bin N] [--roi X Y W H] [--gain G] [--offset O] [--read-mode NAME] [--temperature C] [--overscan] [--bits 8|16|32]
[--out f.fits]``. Without ``--device`` it takes the first camera of ``indi_qhy_py_ccd``. Every value is checked
against the camera's limits before anything is sent; the camera is left connected with its settings (``--disconnect``
to disconnect afterwards). Errors are one line on stderr and a non-zero exit: 2 for a value out of range, 1 for
anything else.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from ..indi.client import blob_payload
from ..output.preview import write_preview
from .progress import Progress
from .remote_camera import CaptureError, RemoteCamera, one_line, open_server

BITS = {8: "BITS_8", 16: "BITS_16", 32: "BITS_32"}


class ValueRangeError(CaptureError):
    """A requested value the camera cannot take (exit 2): said before anything is sent."""


@dataclass
class Plan:
    """What to send, in the order that keeps every value valid (modes before the values they limit)."""

    changes: list[tuple[str, str, dict[str, object]]]
    temperature: float | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m indi_qhy_py.capture", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7624)
    parser.add_argument("--device", help="INDI device name (default: the first camera of indi_qhy_py_ccd)")
    parser.add_argument("--exposure", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--frame-type", choices=("light", "dark", "bias", "flat"), default="light")
    parser.add_argument("--count", type=int, default=1, help="frames in a sequence; files are numbered")
    parser.add_argument("--bin", type=int, help="binning, the same both ways")
    parser.add_argument("--roi", type=int, nargs=4, metavar=("X", "Y", "W", "H"), help="region in unbinned pixels")
    parser.add_argument("--gain", type=int)
    parser.add_argument("--offset", type=int)
    parser.add_argument("--read-mode", help="read mode by name, e.g. 'High Gain' or HIGH_GAIN")
    parser.add_argument("--temperature", type=float, help="cool to this set point (C) and wait until reached")
    parser.add_argument("--tolerance", type=float, default=0.5, help="C around the set point that counts as reached")
    parser.add_argument("--cool-timeout", type=float, default=1800.0, help="seconds to wait for the set point")
    parser.add_argument("--overscan", action=argparse.BooleanOptionalAction, help="include optical black/overscan")
    parser.add_argument("--bits", type=int, choices=sorted(BITS), help="8/16-bit transfer; 32: exact binned sums")
    parser.add_argument("--out", type=Path, default=Path("frame.fits"))
    parser.add_argument("--png", type=Path, help="preview image (default: --out with .png)")
    parser.add_argument("--no-preview", action="store_true", help="write no PNG preview")
    parser.add_argument("--disconnect", action="store_true", help="disconnect the camera afterwards")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server and camera")
    args = parser.parse_args(argv)
    for name, value, low in (("--count", args.count, 1), ("--bin", args.bin, 1)):
        if value is not None and value < low:
            parser.error(f"{name} must be at least {low}, not {value}")
    if args.exposure < 0:
        parser.error(f"--exposure must not be negative, not {args.exposure}")
    if args.roi is not None and (min(args.roi[:2]) < 0 or min(args.roi[2:]) < 1):
        parser.error(f"--roi X Y W H needs X, Y >= 0 and W, H >= 1, not {' '.join(map(str, args.roi))}")
    return args


def _within(camera: RemoteCamera, what: str, value: float, prop: str, element: str) -> None:
    low, high = camera.limits(prop, element)
    if low < high and not low <= value <= high:
        raise ValueRangeError(f"{what} {value:g} is out of range {low:g}..{high:g} for {camera.name}")


def _read_mode(camera: RemoteCamera, wanted: str) -> str:
    def key(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())
    modes = camera.switches("READ_MODE")
    match = next((name for name, label in modes.items() if key(wanted) in (key(name), key(label))), None)
    if match is None:
        raise ValueRangeError(f"read mode {wanted!r} does not exist on {camera.name}; modes: "
                              + ", ".join(f"{label} ({name})" for name, label in modes.items()))
    return match


def plan(camera: RemoteCamera, args: argparse.Namespace) -> Plan:
    """Check every value against the camera's definitions and say what to send; nothing is sent here."""
    _within(camera, "exposure", args.exposure, "CCD_EXPOSURE", "CCD_EXPOSURE_VALUE")
    changes: list[tuple[str, str, dict[str, object]]] = []
    mode_changes = False
    if args.read_mode is not None:
        mode = _read_mode(camera, args.read_mode)
        mode_changes = camera.value("READ_MODE", mode) != "On"
        changes.append(("READ_MODE", "Switch", {mode: "On"}))
    if args.bits is not None:
        changes.append(("BIT_DEPTH", "Switch", {BITS[args.bits]: "On"}))
    overscan_changes = args.overscan is not None and (camera.value("OVERSCAN_MODE", "INDI_ENABLED") == "On") \
        != args.overscan
    if args.overscan is not None:
        changes.append(("OVERSCAN_MODE", "Switch", {"INDI_ENABLED" if args.overscan else "INDI_DISABLED": "On"}))
    if args.bin is not None:
        _within(camera, "binning", args.bin, "CCD_BINNING", "HOR_BIN")
        changes.append(("CCD_BINNING", "Number", {"HOR_BIN": args.bin, "VER_BIN": args.bin}))
    if args.roi is not None:
        x, y, w, h = args.roi
        if not overscan_changes:  # the image size is known: the ROI must lie in it
            width, height = camera.limits("CCD_FRAME", "WIDTH")[1], camera.limits("CCD_FRAME", "HEIGHT")[1]
            if x + w > width or y + h > height:
                raise ValueRangeError(f"ROI {x},{y} {w}x{h} does not fit in the {width:g}x{height:g} image of "
                                      f"{camera.name}")
        changes.append(("CCD_FRAME", "Number", {"X": x, "Y": y, "WIDTH": w, "HEIGHT": h}))
    if args.gain is not None:
        if args.gain < 0:
            raise ValueRangeError(f"gain {args.gain} is out of range: it cannot be negative")
        if not mode_changes:  # after a mode change only the driver knows the new limit: it refuses with the range
            _within(camera, "gain", args.gain, "CCD_GAIN", "GAIN")
        changes.append(("CCD_GAIN", "Number", {"GAIN": args.gain}))
    if args.offset is not None:
        _within(camera, "offset", args.offset, "CCD_OFFSET", "OFFSET")
        changes.append(("CCD_OFFSET", "Number", {"OFFSET": args.offset}))
    changes.append(("CCD_FRAME_TYPE", "Switch", {f"FRAME_{args.frame_type.upper()}": "On"}))
    if camera.value("CCD_TRANSFER_FORMAT", "FORMAT_FITS") == "Off":  # a saved XISF choice: this tool writes FITS
        changes.append(("CCD_TRANSFER_FORMAT", "Switch", {"FORMAT_FITS": "On"}))
    if args.temperature is not None:
        _within(camera, "temperature", args.temperature, "CCD_TEMPERATURE", "CCD_TEMPERATURE_VALUE")
        if args.tolerance <= 0:
            raise ValueRangeError(f"--tolerance must be above 0, not {args.tolerance:g}")
    return Plan(changes, args.temperature)


def wait_for_temperature(camera: RemoteCamera, target: float, tolerance: float, timeout: float,
                         progress: Progress) -> None:
    camera.set("CCD_TEMPERATURE", "Number", CCD_TEMPERATURE_VALUE=target)
    deadline = time.monotonic() + timeout
    last_shown = None
    while True:
        now = float(camera.value("CCD_TEMPERATURE", "CCD_TEMPERATURE_VALUE") or "nan")
        if abs(now - target) <= tolerance:
            progress.done(f"{camera.name}: sensor at {now:.1f} C (set point {target:g} C)")
            return
        if time.monotonic() > deadline:
            raise CaptureError(f"{camera.name}: sensor at {now:.1f} C, not within {tolerance:g} C of {target:g} C "
                               f"after {timeout:.0f} s")
        if not progress.quiet and now == now and round(now) != last_shown:
            last_shown = round(now)
            progress.stream.write(f"{camera.name}: cooling, sensor at {now:.1f} C, set point {target:g} C\n")
            progress.stream.flush()
        camera.client.since(len(camera.client.messages), 1.0)


def numbered(out: Path, index: int, count: int) -> Path:
    if count == 1:
        return out
    name = out.name
    stem, dot, rest = name.partition(".")
    return out.with_name(f"{stem}_{index:03d}{dot}{rest}")


def save(message: object, out: Path, png: Path | None) -> tuple[Path, fits.Header, int]:
    data, fmt = blob_payload(message)  # type: ignore[arg-type]
    target = out if fmt == ".fits" else out.with_name(out.name + fmt.removeprefix(".fits"))
    target.write_bytes(data)
    with fits.open(io.BytesIO(data)) as hdus:
        hdu = hdus[1] if len(hdus) > 1 else hdus[0]
        if png is not None:
            write_preview(hdu.data, png, hdu.header)
        return target, hdu.header.copy(), len(data)


def run(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr, quiet=args.quiet)
    client = open_server(args.host, args.port)
    try:
        camera = RemoteCamera(client, args.device, min(args.timeout, 10.0))
        client.enable_blobs(camera.name)
        if not camera.connected:
            camera.connect(args.timeout)
        steps = plan(camera, args)
        for prop, kind, values in steps.changes:
            camera.set(prop, kind, **values)
        if steps.temperature is not None:
            wait_for_temperature(camera, steps.temperature, args.tolerance, args.cool_timeout, progress)
        for index in range(1, args.count + 1):
            label = f"{camera.name} frame {index}/{args.count}" if args.count > 1 else camera.name
            progress.start(label, args.exposure)
            try:
                message = camera.expose(args.exposure, args.timeout + args.exposure, progress.update)
            except KeyboardInterrupt:
                client.send(client.new_vector(camera.name, "CCD_ABORT_EXPOSURE", "Switch", ABORT="On"))
                raise
            out = numbered(args.out, index, args.count)
            png = None if args.no_preview else numbered(args.png, index, args.count) if args.png else \
                out.with_suffix(".png")
            path, h, size = save(message, out, png)
            progress.done(f"{label}: {h['NAXIS1']}x{h['NAXIS2']} {h['FRAME']} frame, {h['EXPTIME']} s, gain "
                          f"{h['GAIN']}, integrity {h['INTEGRTY']} -> {path} ({size / 1e6:.1f} MB)"
                          + (f", preview {png}" if png else ""))
        if args.disconnect:
            camera.set("CONNECTION", "Switch", DISCONNECT="On")
        return 0
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return one_line("capture", lambda: run(args), {ValueRangeError: 2, CaptureError: 1})


if __name__ == "__main__":
    raise SystemExit(main())
