"""The drop-off carrier: box-free returns with a QR code at a drop-off point."""

from .adapter import DropOffCarrier, bundled_networks, dropoff_code_for, network_file
from .network import DropOffService, Network, load_network, parse_network

__all__ = [
    "DropOffCarrier",
    "DropOffService",
    "Network",
    "bundled_networks",
    "dropoff_code_for",
    "load_network",
    "network_file",
    "parse_network",
]
