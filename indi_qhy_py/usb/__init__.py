"""USB: the pyusb transport, the camera link (the one owner of the conversation with a camera), firmware
loading for cameras in their boot loader, and discovery of every attached (or emulated) camera."""
