"""indi_qhy_py: an INDI driver for QHY268 and QHY600 cameras, with an emulated camera under pyusb."""

__version__ = "0.2.0"
