#!/usr/bin/env bash
# The main job, on a fresh Debian/Ubuntu machine: install everything, start indiserver with indi_qhy_py_ccd (serving
# an emulated QHY600M when no QHY268/QHY600 is attached), capture one frame through INDI into frame.fits and write
# a preview frame.png. Options: EXPOSURE=seconds, INDI_PORT=port, EMULATE=QHY268C (model to emulate).
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1

as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends indi-bin libusb-1.0-0 gcc python3-dev python3-pip
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
socket="$(mktemp -u /tmp/indi_qhy_py.XXXXXX)"
INDI_QHY_EMULATE="$emulate" indiserver -v -p "$port" -u "$socket" -m 1024 indi_qhy_py_ccd > indiserver.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
python3 -m indi_qhy_py.capture --port "$port" --exposure "${EXPOSURE:-1}" --out frame.fits --png frame.png
