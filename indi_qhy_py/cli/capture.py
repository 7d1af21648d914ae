"""Capture one frame through indiserver, as any INDI client would, into a FITS file and a PNG preview.

Usage: ``python3 -m indi_qhy_py.cli.capture [--host H] [--port P] [--device NAME] [--exposure S] [--out f.fits]``.
Without ``--device`` it takes the first device served by ``indi_qhy_py_ccd``.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from astropy.io import fits

from ..indi.ccd_properties import DRIVER_EXEC
from ..indi.client import TcpClient, blob_payload
from ..output.preview import write_preview


def find_device(client: TcpClient, wanted: str | None, timeout: float) -> str:
    info = client.wait(lambda m: m.get("name") == "DRIVER_INFO" and (
        m.get("device") == wanted if wanted else any(c.get("name") == "DRIVER_EXEC" and (c.text or "").strip()
                                                     == DRIVER_EXEC for c in m)), timeout)
    return info.get("device", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7624)
    parser.add_argument("--device", help="INDI device name (default: the first QHY camera of indi_qhy_py_ccd)")
    parser.add_argument("--exposure", type=float, default=1.0, help="seconds")
    parser.add_argument("--frame-type", choices=("light", "dark", "bias", "flat"), default="light")
    parser.add_argument("--out", type=Path, default=Path("frame.fits"))
    parser.add_argument("--png", type=Path, help="preview image (default: --out with .png)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    client = TcpClient(args.host, args.port, timeout=args.timeout)
    try:
        client.get_properties()
        device = find_device(client, args.device, args.timeout)
        client.enable_blobs(device)
        client.connect(device, args.timeout)
        client.set(device, "CCD_FRAME_TYPE", "Switch", **{f"FRAME_{args.frame_type.upper()}": "On"})
        message = client.expose(device, args.exposure, args.timeout + args.exposure)
        if message.tag != "setBLOBVector":
            print(f"{device}: exposure failed: {message.get('message')}", file=sys.stderr)
            return 1
        data, fmt = blob_payload(message)
        out = args.out if fmt == ".fits" else args.out.with_name(args.out.name + fmt.removeprefix(".fits"))
        out.write_bytes(data)
        with fits.open(io.BytesIO(data)) as hdus:
            hdu = hdus[1] if len(hdus) > 1 else hdus[0]
            png = args.png or out.with_suffix(".png")
            write_preview(hdu.data, png)
            h = hdu.header
            print(f"{device}: {h['NAXIS1']}x{h['NAXIS2']} {h['FRAME']} frame, {h['EXPTIME']} s, gain {h['GAIN']}, "
                  f"started {h['DATE-OBS']} UTC, integrity {h['INTEGRTY']}, optical black {h.get('OBMEAN', '?')} ADU")
        print(f"wrote {out} ({len(data) / 1e6:.1f} MB) and preview {png}")
        client.set(device, "CONNECTION", "Switch", DISCONNECT="On")
        return 0
    except (TimeoutError, ConnectionError, OSError) as err:
        print(f"capture failed: {err}", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
