#!/usr/bin/env bash
# Set up on a Debian/Ubuntu machine and capture one frame to frame.fits (emulated QHY600M if no camera).
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends libusb-1.0-0 gcc python3-dev python3-pip
python3 -m pip install -q --upgrade "setuptools>=64" wheel "Cython>=3.0" "numpy>=1.24"
python3 -m pip install -q --no-build-isolation -e ".[test]"
python3 -m indi_qhy_py.snapshot --out frame.fits "$@"
