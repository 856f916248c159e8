"""A network guard for tests: any connection beyond this machine fails loudly.

The guard patches ``socket.socket.connect``/``connect_ex``/``sendto``, ``socket.create_connection``,
``socket.getaddrinfo`` and ``socket.gethostbyname(_ex)``. Connections to loopback addresses
(127.0.0.0/8, ``::1``, ``localhost``) and Unix sockets pass; everything else raises
:class:`NetworkBlockedError`, naming the host and port. Every HTTP stack (httpx, httpx2, the
``openai`` SDK, urllib, asyncio) goes through these functions, so a test that would reach a real
model or web page fails instead of hanging, costing money or depending on the internet.

Install it for a whole pytest session (memagents' ``tests/conftest.py`` does)::

    def pytest_configure(config):
        install_network_guard()

or around a block with ``with network_guard(): ...``. Blocked attempts are also recorded
(:func:`blocked_attempts`), because clients such as the ``openai`` SDK wrap the error in their own
connection error.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

__all__ = [
    "NetworkBlockedError",
    "blocked_attempts",
    "install_network_guard",
    "is_network_guard_installed",
    "network_guard",
    "uninstall_network_guard",
]

_LOCK = threading.RLock()
_ORIGINALS: dict[str, Any] = {}
_GUARDS: dict[str, Any] = {}
_SOCKET_METHODS = ("connect", "connect_ex", "sendto")
_MODULE_FUNCTIONS = ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex")
_session: list[bool] = []  # allow_loopback of install_network_guard(), at most one entry
_scopes: list[bool] = []  # allow_loopback of each active network_guard() block
_blocked: list[str] = []
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a non-loopback host while the network guard was installed.

    Example:
        >>> from memagents.testing import NetworkBlockedError, network_guard
        >>> import socket
        >>> with network_guard():  # doctest: +ELLIPSIS
        ...     socket.create_connection(("10.255.255.1", 80))
        Traceback (most recent call last):
        ...
        memagents.testing.guard.NetworkBlockedError: network access blocked: ...
    """


def _is_local(host: Any) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    name = name.strip("[]").split("%", 1)[0].lower().rstrip(".")
    if name in ("", *_LOCAL_NAMES) or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


@lru_cache(maxsize=1)
def _own_hostname() -> str:
    return socket.gethostname()


def _allow_loopback() -> bool:
    return all(_session) and all(_scopes)


def _block(what: str, host: Any, port: Any = None) -> None:
    target = f"{host}:{port}" if port is not None else f"{host}"
    _blocked.append(f"{what} {target}")
    raise NetworkBlockedError(
        f"network access blocked: {what} {target}. memagents tests must never touch the "
        "network. Use the loopback OpenAI server (memagents.testing.OpenAIServer, the "
        "`openai_server` fixture), ScriptedChatModel / FakeEmbeddings, or an injected "
        "httpx.MockTransport. Only 127.0.0.1, ::1, localhost and Unix sockets are allowed."
    )


def _check_host(what: str, host: Any, port: Any = None) -> None:
    if not _is_local(host):
        _block(what, host, port)


def _check_address(sock: socket.socket, address: Any, what: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets, netlink, ...: never leave the machine
    host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, None)
    if not _is_local(host):
        _block(what, host, port)
    if not _allow_loopback():
        _block(f"{what} (loopback disabled by network_guard(allow_loopback=False))", host, port)


def _socket_method(name: str) -> Callable[..., Any]:
    original = _ORIGINALS[name]

    def guarded(self: socket.socket, *args: Any) -> Any:
        if name == "sendto" and self.type != socket.SOCK_STREAM:
            _check_address(self, args[-1], "UDP sendto")
        elif name != "sendto":
            _check_address(self, args[0], f"socket.{name}")
        return original(self, *args)

    guarded.__name__ = name
    guarded.__doc__ = f"{name} behind the memagents network guard."
    return guarded


def _module_function(name: str) -> Callable[..., Any]:
    original = _ORIGINALS[name]

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "create_connection":
            address = args[0] if args else kwargs["address"]
            _check_host("socket.create_connection", address[0], address[1])
        else:
            host = args[0] if args else kwargs.get("host")
            port = args[1] if len(args) > 1 else kwargs.get("port")
            if host != _own_hostname():  # this machine's name resolves locally; connect checks IPs
                _check_host(f"DNS lookup (socket.{name})", host, port)
        return original(*args, **kwargs)

    guarded.__name__ = name
    guarded.__doc__ = f"socket.{name} behind the memagents network guard."
    return guarded


def _patch() -> None:
    """Install the guarded functions; re-arm any that something else has put back since."""
    if not _ORIGINALS:
        for name in _SOCKET_METHODS:
            _ORIGINALS[name] = getattr(socket.socket, name)
        for name in _MODULE_FUNCTIONS:
            _ORIGINALS[name] = getattr(socket, name)
        _GUARDS.update({name: _socket_method(name) for name in _SOCKET_METHODS})
        _GUARDS.update({name: _module_function(name) for name in _MODULE_FUNCTIONS})
    for name in _SOCKET_METHODS:
        if socket.socket.__dict__.get(name) is not _GUARDS[name]:
            setattr(socket.socket, name, _GUARDS[name])
    for name in _MODULE_FUNCTIONS:
        if getattr(socket, name) is not _GUARDS[name]:
            setattr(socket, name, _GUARDS[name])


def _unpatch() -> None:
    if _session or _scopes or not _ORIGINALS:
        return
    for name in _SOCKET_METHODS:
        if name in socket.socket.__dict__:
            delattr(socket.socket, name)  # inherited from _socket.socket again
        if getattr(socket.socket, name) is not _ORIGINALS[name]:  # pragma: no cover
            setattr(socket.socket, name, _ORIGINALS[name])
    for name in _MODULE_FUNCTIONS:
        setattr(socket, name, _ORIGINALS[name])
    _ORIGINALS.clear()
    _GUARDS.clear()


def install_network_guard(*, allow_loopback: bool = True) -> None:
    """Block non-loopback connections until :func:`uninstall_network_guard`.

    Idempotent, and calling it again re-arms patches that other code restored in the meantime
    (pytest-socket, a dependency of langchain-tests, resets ``socket.socket.connect`` after every
    test, so a test session should call this before each test).

    Args:
        allow_loopback: Let loopback connections through (the loopback test servers need it).
    """
    with _LOCK:
        _session[:] = [allow_loopback]
        _patch()


def uninstall_network_guard() -> None:
    """Undo :func:`install_network_guard` (active :func:`network_guard` blocks stay in force)."""
    with _LOCK:
        _session.clear()
        _unpatch()


def is_network_guard_installed() -> bool:
    """Whether every guarded socket function is currently in place."""
    return bool(_GUARDS) and all(
        (socket.socket.__dict__.get(n) if n in _SOCKET_METHODS else getattr(socket, n)) is g
        for n, g in _GUARDS.items()
    )


def blocked_attempts() -> list[str]:
    """Descriptions of every connection the guard has blocked so far, oldest first."""
    return list(_blocked)


@contextmanager
def network_guard(*, allow_loopback: bool = True) -> Iterator[None]:
    """Block non-loopback connections inside the ``with`` block (nests with the session guard).

    Args:
        allow_loopback: With False, loopback TCP/UDP is blocked too (Unix sockets still pass).
    """
    with _LOCK:
        _scopes.append(allow_loopback)
        _patch()
    try:
        yield
    finally:
        with _LOCK:
            _scopes.remove(allow_loopback)
            _unpatch()
