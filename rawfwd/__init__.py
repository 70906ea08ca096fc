"""rawfwd: a user-space, raw-socket IPv4 multicast forwarder for Linux."""

__version__ = "0.1.0"
