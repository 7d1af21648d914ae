"""The INDI layer: wire format, properties, devices, the QHY camera as an INDI CCD, the driver process that
indiserver runs, and a small client (used by the capture tool, tests and benchmarks)."""
