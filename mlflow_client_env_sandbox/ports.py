"""Free loopback ports, chosen at start, and a clear error when one is taken."""

from __future__ import annotations

import socket

from .errors import PortInUseError

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that is free on 127.0.0.1 for both TCP and UDP (the KDC needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((HOST, port))
            except OSError:
                continue
            return port
    raise PortInUseError("could not find a free port on 127.0.0.1", "free some ports and retry")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def check_port_free(port: int, what: str, udp: bool = False) -> None:
    """Raise PortInUseError naming the server and the fix when ``port`` is bound."""
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # Ignore TIME_WAIT leftovers of a stopped server (servers set it too);
                # a LISTEN socket still makes bind fail.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError as exc:
                raise PortInUseError(
                    f"port {port} on {HOST}, wanted for the {what}, is already in use ({exc})",
                    f"stop whatever listens there (see 'ss -ltnup | grep :{port}'), "
                    "or choose another port / let the sandbox pick free ports",
                ) from exc


def tcp_open(port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
