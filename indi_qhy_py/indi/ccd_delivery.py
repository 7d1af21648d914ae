"""The CCD device's frame delivery: FITS header and file (or XISF), the local save, the BLOB, the frame statistics.

Runs in the exposure's worker thread, one frame at a time (the encoder's buffer is reused). Metadata never costs
a frame: a header problem is reported once and the frame goes with what could be written; a failed local save
still sends the BLOB, then says why the file is missing.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import TYPE_CHECKING

from astropy.io import fits

from ..camera import CapturedFrame
from ..output.fits_header import HeaderContext, camera_only, frame_cards, typed_value
from ..output.fits_image import FitsEncoder
from ..output.upload import UploadError, UploadRoot, check_prefix, default_root
from ..output.xisf_image import XisfEncoder
from .blob import attached_blob_message, blob_message
from .device import Refused
from .properties import State, Vector

if TYPE_CHECKING:
    from .ccd import QhyCcd

_RESERVED_KEYS = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE", "END"}


class FrameDelivery:
    def __init__(self, device: QhyCcd) -> None:
        self.device = device
        self.uploads = UploadRoot(default_root())
        self.encoder = FitsEncoder()
        self.xisf = XisfEncoder()
        self.user_cards: dict[str, tuple[str, str]] = {}
        self.last_delivery_s = float("nan")  # end of readout -> file saved and/or last BLOB byte written
        self._pipeline = threading.Lock()  # one frame at a time through FITS + BLOB (the encoder buffer is shared)
        self._reported: set[str] = set()  # header problems already told to clients (once each, not per frame)

    def header_context(self, frame_type: str) -> HeaderContext:
        """What the header needs besides the frame, taken when the exposure starts."""
        device = self.device
        scope = device.all["SCOPE_INFO"]
        return HeaderContext(frame_type=frame_type.removeprefix("FRAME_").title(),
                             read_mode_name=device.model.read_mode(device.camera.settings.read_mode).name,
                             snooped=device.snoops.snapshot(), scope_focal_length_mm=scope["FOCAL_LENGTH"].value,
                             scope_aperture_mm=scope["APERTURE"].value,
                             user_cards=[(k, val, c) for k, (val, c) in self.user_cards.items()])

    # --- delivering ---------------------------------------------------------------------------------------------
    def deliver(self, frame: CapturedFrame, ctx: HeaderContext) -> None:
        """FITS to disk and/or client. A failed local save still sends the BLOB, then reports why it failed."""
        device = self.device
        with self._pipeline:
            with device.lock:
                xisf = device.all["CCD_TRANSFER_FORMAT"].on_switch() == "FORMAT_XISF"
                compress = not xisf and device.all["CCD_COMPRESSION"].on_switch() == "INDI_ENABLED"
                mode = device.all["UPLOAD_MODE"].on_switch()
                upload = device.all["UPLOAD_SETTINGS"].values()
            extension = ".xisf" if xisf else ".fits.fz" if compress else ".fits"
            t_fits = time.monotonic()
            data = self._encode(frame, ctx, extension)
            log = device.camera.logger
            kind = {".xisf": "XISF", ".fits.fz": "FITS fpack"}.get(extension, "FITS plain")
            log.debug("%s: %.1f MB in %.0f ms", kind, len(data) / 1e6, (time.monotonic() - t_fits) * 1e3)
            with device.lock:
                self.update_stats(frame, "")
            save_error: UploadError | OSError | None = None
            if mode in ("UPLOAD_LOCAL", "UPLOAD_BOTH"):
                try:
                    self._save_local(str(upload["UPLOAD_DIR"]), str(upload["UPLOAD_PREFIX"]), extension, data)
                except (UploadError, OSError) as err:
                    save_error = err
            if mode in ("UPLOAD_CLIENT", "UPLOAD_BOTH"):
                build_blob = attached_blob_message if device.writer.passes_fds else blob_message
                t_blob = time.monotonic()
                device.writer.send_stream(build_blob(device.name, "CCD1", "CCD1", data, extension)).wait()
                log.debug("BLOB to clients (%s): %.0f ms", "shared memory" if device.writer.passes_fds else "base64",
                          (time.monotonic() - t_blob) * 1e3)
            self.last_delivery_s = time.monotonic() - frame.downloaded_at
            if save_error is not None:
                sent = "; the BLOB went to clients" if mode == "UPLOAD_BOTH" else ""
                raise UploadError(f"{save_error}{sent}") from save_error

    def _encode(self, frame: CapturedFrame, ctx: HeaderContext, extension: str) -> memoryview:
        """The file; if the full header cannot be written, the camera's own cards alone (and say so).

        Only the encoder in use keeps its frame-sized buffer: switching formats lets the other one's go.
        """
        if extension == ".xisf":
            self.encoder = FitsEncoder()
            encode = self.xisf.encode
        else:
            self.xisf = XisfEncoder()
            encode = self.encoder.compressed if extension == ".fits.fz" else self.encoder.plain
        model, name = self.device.model, self.device.name
        try:
            return encode(frame.pixels, frame_cards(model, name, frame, ctx, self._report_once))
        except (ValueError, TypeError, KeyError, Warning) as err:
            self._report_once(f"FITS header with snooped and user keywords failed ({err}); frame sent with the "
                              "camera's own keywords only")
            return encode(frame.pixels, frame_cards(model, name, frame, camera_only(ctx)))

    def _save_local(self, directory: str, prefix: str, extension: str, data: memoryview) -> None:
        path, note = self.uploads.save(directory, prefix, extension, [data])
        if note:
            self.device.log("WARNING", note)
        with self.device.lock:
            fp = self.device.all["CCD_FILE_PATH"]
            fp["FILE_PATH"].value = str(path)
            self.device.update(fp, State.OK)

    def _report_once(self, text: str) -> None:
        if text not in self._reported and len(self._reported) < 1000:
            self._reported.add(text)
            self.device.log("WARNING", text)

    def update_stats(self, frame: CapturedFrame | None, damage: str) -> None:
        all_, st = self.device.all, self.device.camera.stats
        stats_v, integrity = all_["FRAME_STATS"], all_["FRAME_INTEGRITY"]
        values: dict[str, float | None] = {
            "FRAMES_CAPTURED": st.frames_captured, "FRAMES_RETRIED": st.frames_retried,
            "FRAMES_FAILED": st.frames_failed, "FRAMES_LOST": st.frames_lost, "USB_ERRORS": st.usb_errors,
            "RECONNECTS": st.reconnects}
        if frame is not None:
            m = frame.meta
            values.update(FRAME_SEQUENCE=m.sequence, OB_MEAN=m.ob_mean, OB_MEDIAN=m.ob_median, OB_STD=m.ob_std,
                          OVERSCAN_MEAN=m.overscan_mean, OVERSCAN_STD=m.overscan_std, SATURATED=m.saturated,
                          ATTEMPTS=frame.attempts)
            integrity["VERDICT"].value, integrity["DAMAGE"].value = m.verdict.value, m.damage
        else:
            integrity["VERDICT"].value, integrity["DAMAGE"].value = "failed", damage
        for name, value in values.items():
            if value is not None and value == value:  # skip None and NaN
                stats_v[name].value = float(value)
        self.device.update(stats_v, State.OK)
        self.device.update(integrity, State.OK if frame is not None and frame.meta.good else State.ALERT)

    # --- where and with what frames go ------------------------------------------------------------------------
    def _on_upload_settings(self, v: Vector, values: dict[str, object]) -> None:
        if "UPLOAD_DIR" in values:  # shown as the absolute directory it resolves to, under the upload root
            values = {**values, "UPLOAD_DIR": str(self.uploads.check(str(values["UPLOAD_DIR"])))}
        if "UPLOAD_PREFIX" in values:
            check_prefix(str(values["UPLOAD_PREFIX"]))
        self.device.accept(v, values)

    def _on_fits_header(self, v: Vector, values: dict[str, object]) -> None:
        key = str(values.get("KEYWORD_NAME", "")).strip().upper()
        value = str(values.get("KEYWORD_VALUE", "")).strip()
        comment = str(values.get("KEYWORD_COMMENT", "")).strip()
        if not key or len(key) > 8 or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-" for c in key):
            raise Refused(f"FITS keyword {key!r} must be 1-8 characters of A-Z, 0-9, '_' or '-'")
        if key in _RESERVED_KEYS:
            raise Refused(f"FITS keyword {key} describes the data layout and cannot be set")
        if not value:
            self.user_cards.pop(key, None)
            self.device.accept(v, values)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                fits.Card(key, typed_value(value), comment).image  # noqa: B018 - formatting is the check
            except (Warning, ValueError) as err:
                raise Refused(f"FITS card {key} = {value!r} / {comment!r} does not fit in 80 characters of "
                              f"printable ASCII: {err}") from err
        self.user_cards[key] = (value, comment)
        self.device.accept(v, values)
