"""The periods of the SDK's own background threads: the seconds between its sensor-status reads (0xD5/0x24) and
between its watchdog feeds (FPGA 0x67 = 1) of one camera, on a bus slot no other opened camera's thread reads.
``python3 -m tests.sdk_oracle.periods`` prints them as JSON."""

from __future__ import annotations

import itertools
import json
import time

from indi_qhy_py import protocol

from .probe import open_scripted
from .sdk import Sdk, oracle


def measure(sdk: Sdk, slot: int, seconds: float = 21.0) -> dict[str, list[float]]:
    open_scripted(sdk, 0xC601, slot)
    mark = sdk.bridge.mark()
    time.sleep(seconds)
    mine = [t for t in sdk.bridge.since(mark) if t.slot == slot]
    status = [t.at for t in mine if t.kind == "IN" and (t.request, t.index) == (protocol.REQ_SENSORS,
                                                                                protocol.SENSOR_STATUS)]
    feeds = [t.at for t in mine if t.kind == "OUT" and t.request == protocol.REQ_FPGA_WRITE
             and t.index == protocol.FPGA_WATCHDOG and t.value == 1]
    sdk.unplug(slot)
    return {"status": [b - a for a, b in itertools.pairwise(status)],
            "watchdog": [b - a for a, b in itertools.pairwise(feeds)]}


if __name__ == "__main__":  # pragma: no cover - a research tool
    print(json.dumps(measure(oracle(), 7)))
