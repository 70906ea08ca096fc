"""The live shell: sockets, netlink, interface discovery and the trio wiring around the core.

Only modules in this package (and the CLI/UI above it) may import socket, trio, netifaces
or pyroute2; the forwarding core stays pure.
"""
