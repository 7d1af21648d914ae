"""``python3 -m indi_qhy_py.capture``: the short name of ``indi_qhy_py.cli.capture`` (the README's command)."""

from .cli.capture import main

if __name__ == "__main__":
    raise SystemExit(main())
