"""``indi_qhy_py_analyse``: know your camera — system gain, read noise, full well, dark current, linearity and the
bias's clearance at the offset, per read mode and gain, measured through INDI by the photon transfer method.

    indi_qhy_py_analyse --mode 1 --gains 0,56,60 --out analysis          # a camera on indiserver at localhost:7624
    indi_qhy_py_analyse --emulate QHY268M --mode 1 --gains 0,56 --out a  # its own indiserver and emulated camera
    indi_qhy_py_analyse --offsets --gains 0,26,56,100                     # the lowest safe offset per gain

For each read mode and gain: two biases, a flat pair at several levels (the exposure for each found here, from
probes) and one past saturation, and with ``--dark S`` two darks of S seconds, all on a centred region of the
sensor; then the photon transfer curve (``analysis.photon_transfer``). On a real camera it asks for a uniform light
source first (``--yes`` to skip), and says what is wrong when there is no light, too much, or an uneven field.
Results: a table here, ``DIR/analysis.json``, and PNG plots in DIR with the published points beside the measured.
The camera's settings are put back at the end. Ctrl-C aborts the exposure and stops. Exit status: 0, 1 (a failure,
said in one line), 2 (bad arguments), 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from ..analysis.offset_advice import advise
from ..analysis.photon_transfer import AnalysisError, dark_current, transfer
from ..analysis.published import points
from .analysis_report import Entry, plot, table, write_json
from .emulated_server import EmulatedServer
from .remote_camera import CaptureError, RemoteCamera, one_line, open_server
from .sensor_session import SensorSession, Setting

DEFAULT_LEVELS = (0.05, 0.15, 0.3, 0.45, 0.6, 0.7)
OFFSET_PROBE_STEP = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="indi_qhy_py_analyse", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7624)
    parser.add_argument("--device", help="INDI device name (default: the first camera of indi_qhy_py_ccd)")
    parser.add_argument("--emulate", metavar="MODEL", help="start an indiserver with an emulated camera (QHY268M...)")
    parser.add_argument("--mode", type=int, action="append", help="read mode index (repeatable; default 1)")
    parser.add_argument("--gains", default=None, help="comma-separated gains (default: the camera's current gain)")
    parser.add_argument("--offset", type=int, help="offset for every setting (default: the camera's current)")
    parser.add_argument("--levels", type=int, default=len(DEFAULT_LEVELS), help="flat levels below saturation (>= 2)")
    parser.add_argument("--roi", type=int, default=512, help="side of the centred square analysed (pixels)")
    parser.add_argument("--dark", type=float, metavar="SECONDS", help="also two darks this long: dark current")
    parser.add_argument("--offsets", action="store_true", help="map the lowest safe offset per gain instead")
    parser.add_argument("--out", type=Path, default=Path("analysis"), help="directory for analysis.json and plots")
    parser.add_argument("--yes", action="store_true", help="do not ask for the light source (scripts)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        args.gain_list = [int(g) for g in args.gains.split(",")] if args.gains else None
    except ValueError:
        parser.error(f"--gains takes comma-separated whole numbers, not {args.gains!r}")
    if args.levels < 2:
        parser.error("--levels must be at least 2: a transfer curve needs two points")
    if args.roi < 16:
        parser.error("--roi must be at least 16 pixels")
    if args.dark is not None and not 0 < args.dark <= 3600:
        parser.error("--dark must be between 0 and 3600 s")
    args.modes = args.mode or [1]
    return args


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    if args.emulate:
        with EmulatedServer(args.emulate) as port:
            yield "127.0.0.1", port
    else:
        yield args.host, args.port


class Analysis:
    """The run: one camera, every requested setting, the results."""

    def __init__(self, camera: RemoteCamera, args: argparse.Namespace) -> None:
        self.camera, self.args = camera, args
        self.session = SensorSession(camera, args.roi, args.timeout, self.say)
        modes = camera.switches("READ_MODE")
        self.mode_elements = list(modes)
        self.mode_labels = list(modes.values())

    def say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    def settings(self) -> list[tuple[int, Setting]]:
        cam, args = self.camera, self.args
        gains = args.gain_list or [round(float(cam.value("CCD_GAIN", "GAIN") or 0))]
        offset = args.offset if args.offset is not None else round(float(cam.value("CCD_OFFSET", "OFFSET") or 0))
        found = []
        for mode in args.modes:
            if not 0 <= mode < len(self.mode_elements):
                raise CaptureError(f"read mode {mode} does not exist on {cam.name}: "
                                   + ", ".join(f"{i} {label}" for i, label in enumerate(self.mode_labels)))
            found += [(mode, Setting(self.mode_elements[mode], gain, offset)) for gain in gains]
        return found

    def measure(self) -> list[Entry]:
        levels = list(DEFAULT_LEVELS) if self.args.levels == len(DEFAULT_LEVELS) else \
            [0.05 + 0.65 * i / (self.args.levels - 1) for i in range(self.args.levels)]
        entries = []
        for mode, setting in self.settings():
            self.say(f"{self.camera.name}: mode {mode} ({self.mode_labels[mode]}), gain {setting.gain}, "
                     f"offset {setting.offset}")
            self.session.apply(setting)
            bias = self.session.bias()
            flats = self.session.flats(bias, levels)
            result = transfer(bias, flats)
            dark = None
            if self.args.dark:
                self.say(f"  dark pair of {self.args.dark:g} s")
                dark = dark_current(bias, self.session.pair("DARK", self.args.dark), result.e_per_adu)
            sensor = self.camera.value("CCD_TEMPERATURE", "CCD_TEMPERATURE_VALUE")
            entries.append(Entry.of(mode, self.mode_labels[mode], setting.gain, setting.offset, result, dark,
                                    float(sensor) if sensor else None, bias.level, bias.clipped_low))
        return entries

    def offsets(self) -> list[dict[str, object]]:
        """Per setting: biases at two offsets give the ADU per offset step; the advice follows from it."""
        rows = []
        for mode, setting in self.settings():
            self.session.apply(setting)
            low = self.session.frame("BIAS", self.session.min_exposure)
            self.camera.set("CCD_OFFSET", "Number", OFFSET=setting.offset + OFFSET_PROBE_STEP)
            high = self.session.frame("BIAS", self.session.min_exposure)
            per_step = (float(high.mean()) - float(low.mean())) / OFFSET_PROBE_STEP
            if not math.isfinite(per_step) or per_step <= 0:
                raise AnalysisError(f"raising the offset by {OFFSET_PROBE_STEP} did not raise the bias level "
                                    f"(mode {mode}, gain {setting.gain})")
            advice = advise(low, setting.offset, setting.gain, per_step)
            self.say(f"mode {mode} gain {setting.gain}: {advice.text()}")
            rows.append({"mode": mode, "gain": setting.gain, "offset": setting.offset, "adu_per_offset_step":
                         per_step, "bias_adu": advice.level_adu, "bias_sigma_adu": advice.sigma_adu,
                         "bias_clipped": advice.clipped > 0, "min_safe_offset": advice.safe_offset})
            self.camera.set("CCD_OFFSET", "Number", OFFSET=setting.offset)
        return rows


def confirm_light(camera: RemoteCamera, args: argparse.Namespace) -> None:
    """A real camera needs a light source the analysis cannot provide: ask, unless told not to."""
    if args.emulate or args.yes or args.offsets or camera.value("SIMULATION", "ENABLE") == "On":
        return
    if not sys.stdin.isatty():
        raise CaptureError("put a uniform light source (a flat panel) in front of the camera, then run again with "
                           "--yes (no terminal to ask on)")
    print("Put a uniform light source in front of the camera (a flat panel, or a diffuser on a dawn sky), with the "
          "camera cooled if you want dark current at that temperature. Press Enter to start, Ctrl-C to stop.",
          file=sys.stderr)
    input()


def run(args: argparse.Namespace) -> int:
    with server(args) as (host, port):
        client = open_server(host, port)
        try:
            camera = RemoteCamera(client, args.device, min(args.timeout, 10.0))
            client.enable_blobs(camera.name)
            if not camera.connected:
                camera.connect(args.timeout)
            confirm_light(camera, args)
            analysis = Analysis(camera, args)
            saved = analysis.session.snapshot()
            args.out.mkdir(parents=True, exist_ok=True)
            try:
                analysis.session.prepare()
                return report(analysis, camera, args)
            except KeyboardInterrupt:
                client.send(client.new_vector(camera.name, "CCD_ABORT_EXPOSURE", "Switch", ABORT="On"))
                raise
            finally:
                for problem in analysis.session.restore(saved):
                    print(f"analyse: not put back: {problem}", file=sys.stderr)
        finally:
            client.close()


def report(analysis: Analysis, camera: RemoteCamera, args: argparse.Namespace) -> int:
    about: dict[str, object] = {"device": camera.name, "roi": args.roi}
    if args.offsets:
        rows = analysis.offsets()
        about["model"] = analysis.session.instrument
        (args.out / "offsets.json").write_text(json.dumps({"camera": about, "offsets": rows}, indent=2) + "\n")
        print(f"{'mode':>4}{'gain':>6}{'ADU/step':>10}{'bias ADU':>10}{'sigma':>8}  lowest safe offset")
        for r in rows:
            print(f"{r['mode']:>4}{r['gain']:>6}{r['adu_per_offset_step']:>10.2f}{r['bias_adu']:>10.0f}"
                  f"{r['bias_sigma_adu']:>8.2f}  {r['min_safe_offset']}" + ("  (CLIPS now)" if r["bias_clipped"]
                                                                           else ""))
        return 0
    entries = analysis.measure()
    model = about["model"] = analysis.session.instrument
    published = {(p.mode, p.gain): p for p in points(model)}
    print(table(entries, published))
    write_json(entries, args.out / "analysis.json", about)
    try:
        written = plot(entries, published.values(), args.out)
        analysis.say("plots: " + ", ".join(str(p) for p in written))
    except ImportError:
        analysis.say("no plots: matplotlib is not installed (pip install matplotlib)")
    for e in entries:
        if e.bias_clipped:
            analysis.say(f"mode {e.mode} gain {e.gain}: the bias clips at 0 at offset {e.offset}: raise the offset "
                         "(indi_qhy_py_analyse --offsets finds the lowest safe one)")
    if not published:
        analysis.say(f"no published points for {model} to compare with")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return one_line("analyse", lambda: run(args), {CaptureError: 1, AnalysisError: 1},
                    "interrupted (the exposure was aborted)")


if __name__ == "__main__":
    raise SystemExit(main())
