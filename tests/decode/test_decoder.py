"""The frame decoder: the Cython kernel equals the numpy reference exactly; the damage the frame format can show
is always caught."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indi_qhy_py import protocol
from indi_qhy_py.decode import decoder
from indi_qhy_py.decode import reference as decode_reference
from indi_qhy_py.decode.frame import DecodeRequest, Verdict
from indi_qhy_py.emulator import FlatField, StarField
from indi_qhy_py.models import ALL_MODELS, QHY268C, QHY268M, QHY600C, QHY600M, CameraModel
from tests.conftest import Exposed, configure, expose, make_rig, request_for

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(decoder.CYTHON_KERNEL is None, reason="Cython decoder not built")]
KERNELS = {"cython": decoder.CYTHON_KERNEL, "reference": decode_reference.pixel_pass}


@functools.lru_cache(maxsize=64)
def stream(model: CameraModel, bits: int = 16, mode: int = 1, roi_y: int = 0, rows: int = 40,
           scene: str = "stars") -> tuple[Exposed, object]:
    """A seeded frame from the emulator, as read by the real transport; also the camera's record of it."""
    rig = make_rig(model)
    cam = rig.cameras[0]
    cam.scene = StarField(stars=3000, brightest_e_per_s=5e5) if scene == "stars" else FlatField(9e4)
    link = rig.open()
    configure(link, model, read_mode=mode, gain=30)
    exposed = expose(link, model, exposure_s=0.5, bits=bits, y=roi_y, height=rows)
    rig.close()
    exposed.raw.flags.writeable = False
    return exposed, cam.last_frame


def both(raw: np.ndarray, received: int, request: DecodeRequest):
    a = decoder.decode(raw, received, request, kernel=KERNELS["cython"])
    b = decoder.decode(raw, received, request, kernel=KERNELS["reference"])
    return a, b


def assert_same(a, b) -> None:
    assert a.pixels.dtype == b.pixels.dtype and a.pixels.flags.c_contiguous
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.meta.ob_row_means, b.meta.ob_row_means)
    ma, mb = dict(vars(a.meta)), dict(vars(b.meta))
    ma.pop("ob_row_means"), mb.pop("ob_row_means")
    nan_free = {k: ("nan" if isinstance(v, float) and np.isnan(v) else v) for k, v in ma.items()}
    assert nan_free == {k: ("nan" if isinstance(v, float) and np.isnan(v) else v) for k, v in mb.items()}


MAIN = [QHY268M, QHY268C, QHY600M, QHY600C]


@pytest.mark.parametrize(("model", "bits", "mode"), list(itertools.product(MAIN, (8, 16), (0, 1, 2, 3))),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_kernels_agree_for_every_model_depth_and_mode(model: CameraModel, bits: int, mode: int) -> None:
    roi_y = 20  # the ROI crosses from the overscan rows into the effective area
    exposed, record = stream(model, bits, mode, roi_y, 60)
    request = request_for(model, exposed, bits, expected_sequence=0, full=True)
    a, b = both(exposed.raw, exposed.received, request)
    assert a.meta.good, a.meta.damage
    assert_same(a, b)
    assert a.meta.sequence == record.sequence
    offset = roi_y - exposed.readout.image_y
    np.testing.assert_array_equal(a.pixels, record.image[offset : offset + 60])


@pytest.mark.parametrize("binning", [1, 2, 3, 4])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("bits", [8, 16])
def test_kernels_agree_for_binning_cut_and_roi(binning: int, average: bool, full: bool, bits: int) -> None:
    exposed, _ = stream(QHY268C, bits, 1, 1001, 37)  # odd start row and odd height
    request = request_for(QHY268C, exposed, bits, x=333, width=1001, full=full, binning=binning, average=average)
    a, b = both(exposed.raw, exposed.received, request)
    assert a.meta.good
    assert_same(a, b)
    expected = np.uint32 if binning > 1 and not average else (np.uint16 if bits == 16 else np.uint8)
    assert a.pixels.dtype == expected and a.pixels.shape == (37 // binning, 1001 // binning)


def test_binned_sums_keep_every_bit_and_averages_round() -> None:
    exposed, _ = stream(QHY600M, 16, 1, 0, 40, "flat")
    raw, received = exposed.raw, exposed.received
    one = decoder.decode(raw, received, request_for(QHY600M, exposed, full=True)).pixels
    for b in (2, 3, 4):
        summed = decoder.decode(raw, received, request_for(QHY600M, exposed, full=True, binning=b)).pixels
        h, w = summed.shape
        direct = one[: h * b, : w * b].reshape(h, b, w, b).sum(axis=(1, 3), dtype=np.uint64)
        np.testing.assert_array_equal(summed, direct)
        assert summed.max() > 65535  # more than 16 bits: nothing was clipped
        avg = decoder.decode(raw, received, request_for(QHY600M, exposed, full=True, binning=b,
                                                        average=True)).pixels
        np.testing.assert_array_equal(avg, (direct + b * b // 2) // (b * b))


def test_output_array_is_filled_in_place() -> None:
    exposed, _ = stream(QHY268M, roi_y=QHY268M.effective.y)
    request = request_for(QHY268M, exposed)
    out = decoder.allocate_output(request)
    frame = decoder.decode(exposed.raw, exposed.received, request, out)
    assert frame.pixels is out and frame.meta.good
    with pytest.raises(ValueError, match="C-contiguous uint16"):
        decoder.decode(exposed.raw, exposed.received, request, np.empty((3, 3), np.uint16))


def test_metadata_matches_the_emulators_ground_truth() -> None:
    model = QHY600M
    roi_y = 0  # the top 100 rows: the 34 overscan rows, then exposed ones
    exposed, record = stream(model, 16, 1, roi_y, 100)
    raw, received = exposed.raw, exposed.received
    full = decoder.decode(raw, received, request_for(model, exposed, full=True))
    meta = decoder.decode(raw, received, request_for(model, exposed)).meta
    img = full.pixels.astype(np.float64)
    top = model.effective.y - roi_y
    ob = img[top:, : model.optical_black.width]
    overscan = img[:top]
    assert meta.ob_mean == pytest.approx(ob.mean()) and meta.ob_std == pytest.approx(ob.std())
    assert meta.ob_median == np.median(ob)
    np.testing.assert_allclose(meta.ob_row_means, ob.mean(axis=1))
    assert meta.overscan_mean == pytest.approx(overscan.mean()) and meta.overscan_std == pytest.approx(overscan.std())
    assert meta.ob_mean == pytest.approx(record.truth.pedestal_adu, abs=1.0)
    assert meta.overscan_std == pytest.approx(record.truth.read_noise_adu, rel=0.05)
    eff = full.pixels[top:, model.effective.x :]
    assert meta.saturated == int((eff == 65535).sum())
    assert meta.sequence == record.sequence
    exposed, _ = stream(model, 16, 1, roi_y, 100, "flat")  # 45 ke- at gain 30: past the ADC's range
    flat = decoder.decode(exposed.raw, exposed.received, request_for(model, exposed))
    assert flat.meta.saturated == flat.pixels.size == int((flat.pixels == 65535).sum())


FAULTS = [("drop", Verdict.SHORT), ("short", Verdict.SHORT), ("zero_fill", Verdict.ZERO_FILLED),
          ("misalign", Verdict.MISALIGNED), ("stall", Verdict.SHORT)]


@pytest.mark.parametrize(("kind", "verdict"), FAULTS)
@pytest.mark.parametrize("bits", [8, 16])
def test_every_injected_fault_is_classified_by_both_kernels(kind: str, verdict: Verdict, bits: int) -> None:
    rig = make_rig(QHY600M)
    rig.cameras[0].faults.inject(kind)
    exposed = expose(rig.open(), QHY600M, bits=bits, y=QHY600M.effective.y, height=50, timeout_ms=300)
    a, b = both(exposed.raw, exposed.received, request_for(QHY600M, exposed, bits))
    assert a.meta.verdict is verdict and b.meta.verdict is verdict, a.meta.damage
    assert_same(a, b)


# --- fuzzing -----------------------------------------------------------------------------------------------------
FUZZ_ROWS = 6


@functools.lru_cache(maxsize=1)
def fuzz_frame() -> tuple[bytes, DecodeRequest]:
    exposed, _ = stream(QHY268M, 16, 1, 500, FUZZ_ROWS)
    request = request_for(QHY268M, exposed, expected_sequence=0)
    return bytes(exposed.raw[: exposed.received]), request


def decode_all(data: bytearray | bytes, received: int, request: DecodeRequest):
    raw = np.frombuffer(bytes(data), dtype=np.uint8).copy()
    return [decoder.decode(raw, received, request, kernel=k) for k in KERNELS.values()]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 7)), min_size=1, max_size=12))
def test_bit_flips_agree_between_kernels_and_a_broken_marker_is_never_good(flips: list[tuple[int, int]]) -> None:
    """The format has no checksum: a flip among the pixels cannot be told (QHY's SDK cannot either); a flip in the
    marker always can."""
    clean, request = fuzz_frame()
    data = bytearray(clean)
    for position, bit in flips:
        data[position % len(clean)] ^= 1 << bit
    results = decode_all(data, len(data), request)
    assert_same(*results)
    if data[:4] != clean[:4]:
        assert all(r.meta.verdict is Verdict.MISALIGNED for r in results)


@FUZZ
@given(st.integers(0, 10**9))
def test_truncated_frames_are_never_good(cut: int) -> None:
    clean, request = fuzz_frame()
    received = cut % request.layout.total_len
    results = decode_all(clean, received, request)
    assert all(r.meta.verdict in (Verdict.SHORT, Verdict.MISALIGNED) for r in results)
    assert_same(*results)


@FUZZ
@given(st.binary(min_size=0, max_size=4000), st.integers(0, 10**9))
def test_garbage_spliced_in_never_crashes(garbage: bytes, where: int) -> None:
    clean, request = fuzz_frame()
    at = where % len(clean)
    data = (clean[:at] + garbage + clean[at + len(garbage) :])[: len(clean)]
    results = decode_all(data, len(data), request)
    if data[:4] != clean[:4]:
        assert all(r.meta.verdict is not Verdict.GOOD for r in results)
    assert results[0].meta.verdict is results[1].meta.verdict


@FUZZ
@given(st.binary(min_size=0, max_size=200_000))
def test_pure_garbage_never_crashes(data: bytes) -> None:
    _, request = fuzz_frame()
    for result in decode_all(data, len(data), request):
        assert result.meta.verdict is not Verdict.GOOD


def test_all_table_models_decode() -> None:
    for model in ALL_MODELS:
        exposed, _ = stream(model, 16, 0, 0, 8)
        assert decoder.decode(exposed.raw, exposed.received, request_for(model, exposed)).meta.good


def test_a_single_frame_starts_with_the_marker_and_its_number() -> None:
    exposed, record = stream(QHY268M)
    assert bytes(exposed.raw[:4]) == protocol.FRAME_MARKER
    assert protocol.head_sequence(exposed.raw) == record.sequence
