"""The recorded traces (``traces/<model>/<operation>.txt``) still describe what the SDK sends.

Each stateless operation is run again on a scripted camera and its transfers, reduced to protocol fields
(``compare.fields_of``: bytes the SDK leaves uninitialised do not count), must equal the recorded ones.
"""

from __future__ import annotations

import pytest

from .bridge import Transfer
from .compare import fields_of
from .operations import OPERATIONS, TRACES, trace, without_watchdog

STATELESS = ["gain_0", "gain_56", "gain_100", "offset_25", "offset_60", "exposure_20ms", "exposure_300s",
             "usb_traffic_0", "usb_traffic_30", "bits_8", "bits_16", "ddr_on", "resolution_roi", "bin_1", "bin_2",
             "read_mode_1", "read_temperature", "firmware_version", "fpga_version"]


def parse(line: str) -> Transfer:
    kind, request, value, index, length, *data = line.split()
    return Transfer(kind, int(request, 16), int(value.split("=")[1], 16), int(index.split("=")[1], 16),
                    bytes(int(b, 16) if b != ".." else 0 for b in data), int(length.split("=")[1]), 0, 0.0)


def recorded(model: str, operation: str) -> list[Transfer]:
    lines = (TRACES / model / f"{operation}.txt").read_text().splitlines()
    return [parse(line) for line in lines if line and not line.startswith("BULK")]


@pytest.mark.parametrize(("model", "product_id"), [("QHY600M", 0xC601), ("QHY268M", 0xC269)])
def test_stateless_operations_still_send_the_recorded_fields(sdk, scripted, model: str, product_id: int) -> None:
    cam, _ = scripted(product_id)
    assert set(STATELESS) <= set(OPERATIONS)
    differing = {}
    for operation in STATELESS:
        _, now = trace(sdk, cam, operation)
        now_fields = [f for t in without_watchdog(now) if t.kind != "BULK" for f in fields_of(t)]
        then_fields = [f for t in recorded(model, operation) for f in fields_of(t)]
        if now_fields != then_fields:
            differing[operation] = (then_fields, now_fields)
    assert differing == {}


def test_the_driver_vs_sdk_comparison_accounts_for_every_sdk_field(sdk, scripted) -> None:
    """Every field the SDK sends for a user operation is either sent identically by the driver or listed."""
    from .compare import OPERATIONS as USER_OPERATIONS
    from .compare import REASONS, DriverRecorder, compare, sdk_run

    cam, device = scripted(0xC601)
    driver = DriverRecorder("QHY600M")
    seen = 0
    try:
        for name, sdk_call, driver_call in USER_OPERATIONS:
            sdk_transfers = sdk_run(sdk, cam, device, sdk_call)
            sdk_fields = [f for t in sdk_transfers for f in fields_of(t)]
            seen += len(sdk_fields)  # (an operation may send nothing: the SDK skips a cooler target it holds)
            # the comparison itself: the SDK against itself matches everything, against silence nothing
            assert compare(name, sdk_transfers, sdk_transfers) == (len(sdk_fields), [])
            silent, listed = compare(name, sdk_transfers, [])
            assert silent == 0 and [d.sdk for d in listed] == sdk_fields
            matched, differences = compare(name, sdk_transfers, driver.run(driver_call))
            assert matched + len(differences) == len(sdk_fields), name
            # every field the driver leaves out is one whose reason is on record, not an oversight
            assert [d for d in differences if d.sdk[0] not in REASONS] == [], name
    finally:
        driver.close()
    assert seen > 0
