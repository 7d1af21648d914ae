#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine: install everything, start indiserver with indi_qhy_py_ccd (serving
# an emulated QHY600M when no QHY268/QHY600 is attached), capture one frame through INDI into frame.fits and write
# a preview frame.png. Options: EXPOSURE=seconds, INDI_PORT=port, EMULATE=QHY268C (model to emulate).
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1

# another package manager (unattended-upgrades at boot, a software centre) may hold apt's locks: wait for it,
# at most APT_WAIT seconds, instead of failing at once
apt_wait="${APT_WAIT:-600}"
apt() { as_root apt-get -o DPkg::Lock::Timeout="$apt_wait" "$@"; }
wait_for_apt_lists() {
    local waited=0
    # apt's locks are fcntl locks: python3 (needed anyway) tests them without taking them for long
    while ! as_root python3 -c 'import fcntl, sys
for path in ("/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"):
    try:
        with open(path, "a") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        pass
    except OSError:
        sys.exit(1)' 2> /dev/null; do
        if [ "$waited" -ge "$apt_wait" ]; then
            echo "apt is still busy after ${apt_wait} s (another package manager runs): try again later" >&2
            exit 1
        fi
        [ "$waited" -eq 0 ] && echo "waiting for another package manager to finish (up to ${apt_wait} s)..."
        sleep 5
        waited=$((waited + 5))
    done
}
wait_for_apt_lists
apt update -q
apt install -y -q --no-install-recommends indi-bin libusb-1.0-0 gcc python3-dev python3-pip
python3 -m pip install -q --upgrade "setuptools>=64" wheel "Cython>=3.0" "numpy>=1.24"
python3 -m pip install -q --no-build-isolation -e .

if python3 -c "import sys; from indi_qhy_py.usb.discovery import discover; sys.exit(0 if discover()[0] else 1)"; then
    emulate=""
    echo "A QHY camera is attached: using it."
else
    emulate="${EMULATE:-QHY600M}"
    echo "No QHY268/QHY600 attached: serving an emulated ${emulate}."
fi
port="${INDI_PORT:-7624}"
if ! python3 -c "import socket, sys; s = socket.socket(); s.bind(('', int(sys.argv[1])))" "$port" 2> /dev/null; then
    echo "port $port is taken (another indiserver?): run INDI_PORT=7625 bash run.sh" >&2
    exit 1
fi
socket="$(mktemp -u /tmp/indi_qhy_py.XXXXXX)"  # our own local socket: another indiserver may hold the default
INDI_QHY_EMULATE="$emulate" indiserver -v -p "$port" -u "$socket" -m 1024 indi_qhy_py_ccd > indiserver.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do  # until it listens (at most 10 s)
    python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$port" \
        2> /dev/null && break
    kill -0 "$server" 2> /dev/null || { echo "indiserver did not start:" >&2; cat indiserver.log >&2; exit 1; }
    sleep 0.1
done
python3 -m indi_qhy_py.capture --port "$port" --exposure "${EXPOSURE:-1}" --out frame.fits --png frame.png
