"""Output: a captured frame as a FITS header and file (plain or fpack), a PNG preview, and the upload root local
saves stay under."""
