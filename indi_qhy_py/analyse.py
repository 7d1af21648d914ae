"""``python3 -m indi_qhy_py.analyse``: the short name of ``indi_qhy_py.cli.analyse`` (``indi_qhy_py_analyse``)."""

from .cli.analyse import main

if __name__ == "__main__":
    raise SystemExit(main())
