"""Hostile input through Debian's indiserver: how many attacks the driver survives, side by side with INDI's own.

Every case of ``tests/hostile.py`` (BLOB writes, snooped extremes, non-ASCII names, whitespace-wrapped text, path
attacks, malformed numbers) is sent ROUNDS times through one indiserver by a raw-socket client, each followed by
an exposure, plus a garbage flood from another client. Counted: messages sent, attacks answered as they must be,
driver restarts (must be 0), frames lost (must be 0; an attack through metadata must never cost a frame).

Peer in the same run: Debian's C++ ``indi_simulator_ccd`` under its own indiserver gets the attacks that apply
to any INDI CCD (a BLOB write, snooped RA/LAT of 1e308, a Greek filter name), each followed by an exposure.

Last line: ``hostile_survived=<messages>`` when restarts and lost frames are both 0, else ``hostile_survived=0``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indi_qhy_py.indi.client import TcpClient
from tests.e2e.conftest import driver_pids, start_server, stop_server
from tests.e2e.hostile import CASES, MOUNT, WHEEL, HostileSession, flood, run_case, snooped

ROUNDS = 3
SIMULATOR = "CCD Simulator"


def ours(tmp: Path) -> tuple[int, int, int, int, int]:
    """(messages, cases, answered, restarts, frames lost) for this driver."""
    session = HostileSession(tmp)
    answered = cases = lost = 0
    try:
        for _ in range(ROUNDS):
            for case in CASES:
                outcome = run_case(session, case)
                cases += 1
                answered += outcome.replied
                lost += not outcome.frame_delivered
                if outcome.problems:
                    print(f"  {case.name}: {outcome.problems}")
            flood(session)
        restarts = int(session.driver_pid() != session.pid)
        return session.messages_sent, cases, answered, restarts, lost
    finally:
        session.close()


def simulator_peer(tmp: Path) -> tuple[int, int, int]:
    """(attacks, restarts, frames lost) for indi_simulator_ccd given the attacks any INDI CCD may meet."""
    server = start_server(tmp, "indi_simulator_ccd")
    attacks = [
        f"<newBLOBVector device='{SIMULATOR}' name='CCD1'><oneBLOB name='CCD1' size='4' format='.fits'>QUJDRA=="
        "</oneBLOB></newBLOBVector>",
        snooped("Number", MOUNT, "EQUATORIAL_EOD_COORD", RA="1e308", DEC=10),
        snooped("Number", MOUNT, "GEOGRAPHIC_COORD", LAT="-1e308", LONG=10, ELEV=0),
        snooped("Text", WHEEL, "FILTER_NAME", FILTER_SLOT_NAME_1="Hα") + snooped("Number", WHEEL, "FILTER_SLOT",
                                                                                  FILTER_SLOT_VALUE=1),
    ]
    client = TcpClient("127.0.0.1", server.port)
    restarts = lost = 0
    try:
        client.get_properties()
        client.wait(lambda m: m.get("device") == SIMULATOR and m.get("name") == "CONNECTION")
        client.enable_blobs(SIMULATOR)
        client.connect(SIMULATOR)
        client.wait(lambda m: m.get("device") == SIMULATOR and m.get("name") == "CCD_EXPOSURE")
        client.set(SIMULATOR, "CCD_FRAME", "Number", X=0, Y=0, WIDTH=64, HEIGHT=48)
        first = driver_pids(server)
        for attack in attacks * ROUNDS:
            client.send(attack)
            time.sleep(0.2)
            try:
                if client.expose(SIMULATOR, 0.01, timeout=15).tag != "setBLOBVector":
                    lost += 1
            except TimeoutError:
                lost += 1
            if driver_pids(server) != first:
                restarts += 1
                first = driver_pids(server)
                client.connect(SIMULATOR)
                client.enable_blobs(SIMULATOR)
        return len(attacks) * ROUNDS, restarts, lost
    finally:
        client.close()
        stop_server(server)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        messages, cases, answered, restarts, lost = ours(Path(tmp) / "ours")
        print(f"indi_qhy_py_ccd: {messages} hostile messages in {cases} attacks ({ROUNDS} rounds of {len(CASES)}, "
              f"plus {ROUNDS} 2 MB floods): answered {answered}/{cases}, driver restarts {restarts}, "
              f"frames lost {lost}")
        (Path(tmp) / "peer").mkdir()
        peer_attacks, peer_restarts, peer_lost = simulator_peer(Path(tmp) / "peer")
        print(f"indi_simulator_ccd (peer, same indiserver build): {peer_attacks} attacks, driver restarts "
              f"{peer_restarts}, frames lost {peer_lost}")
        print(f"restarts={restarts} frames_lost={lost}")
        print(f"hostile_survived={messages if restarts == 0 and lost == 0 else 0}")


if __name__ == "__main__":
    main()
