"""``python3 -m indi_qhy_py.install``: the short name of ``indi_qhy_py.cli.install`` (the README's command)."""

from .cli.install import main

if __name__ == "__main__":
    raise SystemExit(main())
