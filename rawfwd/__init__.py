"""rawfwd: a user-space, raw-socket IPv4 multicast forwarder for Linux."""

__version__ = "0.1.0"

from . import native

native.choose()  # before any engine module is imported: compiled, or from the sources
