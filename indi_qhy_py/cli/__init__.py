"""Command-line tools: capture through indiserver, snapshot without INDI, install the driver description, udev
rules and service, load firmware into boot-loader cameras."""
