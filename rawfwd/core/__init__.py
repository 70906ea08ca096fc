"""The pure forwarding core: bytes, interface and time in; frames to send out.

Imports only the standard library, cachetools and `rawfwd.config.values`: never sockets, trio,
scapy, rich, netifaces or pyroute2 (a test enforces this).
"""

from .forwarder import Forwarder, Transmit
from .reasons import DropReason
from .stats import FlowSnapshot, InterfaceSnapshot, Snapshot

__all__ = ["DropReason", "FlowSnapshot", "Forwarder", "InterfaceSnapshot", "Snapshot", "Transmit"]
