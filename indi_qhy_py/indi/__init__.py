"""The project's own small INDI layer: wire format, properties, and the driver process (in progress)."""
