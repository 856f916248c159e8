"""The network guard: the session-wide guard blocks the internet and lets loopback through."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile

import httpx
import openai
import pytest

from memagents.testing import (
    NetworkBlockedError,
    OpenAIServer,
    blocked_attempts,
    is_network_guard_installed,
    network_guard,
)


def test_session_guard_is_installed() -> None:
    assert is_network_guard_installed()
    assert isinstance(NetworkBlockedError("x"), RuntimeError)


def test_connect_to_private_address_is_blocked() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(
            NetworkBlockedError, match=r"10\.255\.255\.1:80.*loopback OpenAI server"
        ):
            sock.connect(("10.255.255.1", 80))
        with pytest.raises(NetworkBlockedError):
            sock.connect_ex(("10.255.255.1", 80))
    finally:
        sock.close()
    assert "socket.connect 10.255.255.1:80" in blocked_attempts()


def test_hostnames_are_blocked_before_any_dns_lookup() -> None:
    with pytest.raises(NetworkBlockedError, match="example.com:80"):
        socket.create_connection(("example.com", 80), timeout=1)
    with pytest.raises(NetworkBlockedError, match="DNS lookup"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkBlockedError, match="DNS lookup"):
        socket.gethostbyname("example.com")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(NetworkBlockedError, match="8.8.8.8:53"):
            sock.sendto(b"\x00", ("8.8.8.8", 53))
    finally:
        sock.close()


def test_http_clients_fail_loudly() -> None:
    with pytest.raises(NetworkBlockedError, match="example.com"):
        httpx.get("http://example.com/", timeout=1)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with pytest.raises((NetworkBlockedError, openai.APIConnectionError)) as info:
        client.models.list()
    chain: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None:  # the SDK may wrap it; the guard's error must be in the chain
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, NetworkBlockedError) for e in chain)
    assert "api.openai.com:443" in str(chain[-1])


async def test_asyncio_connections_are_blocked() -> None:
    with pytest.raises(NetworkBlockedError):
        await asyncio.open_connection("10.255.255.1", 80)


def test_loopback_and_unix_sockets_work() -> None:
    with OpenAIServer(default_reply="pong") as server:
        reply = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
        )
        assert reply.json()["choices"][0]["message"]["content"] == "pong"
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        assert httpx.get(f"http://localhost:{port}/v1/models").status_code == 200
    assert socket.getaddrinfo("localhost", 80)
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname(), timeout=1):
        pass
    if socket.has_ipv6:
        try:
            v6 = socket.create_server(("::1", 0), family=socket.AF_INET6)
        except OSError:  # pragma: no cover - no IPv6 loopback on this machine
            v6 = None
        if v6 is not None:
            with v6, socket.create_connection(v6.getsockname()[:2], timeout=1):
                pass
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "s.sock")
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(path)
        unix.listen()
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        client.close()
        unix.close()


def test_guard_block_can_forbid_loopback_and_nests() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        with (
            network_guard(allow_loopback=False),
            pytest.raises(NetworkBlockedError, match="loopback disabled"),
        ):
            socket.create_connection(listener.getsockname(), timeout=1)
        with socket.create_connection(listener.getsockname(), timeout=1):
            pass  # the block ended; loopback works again
    assert is_network_guard_installed()
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("example.org", 80)


def test_ipv4_mapped_and_loopback_range() -> None:
    from memagents.testing.guard import _is_local

    assert _is_local("127.1.2.3") and _is_local("::1") and _is_local("::ffff:127.0.0.1")
    assert _is_local("LOCALHOST") and _is_local("api.localhost") and _is_local("[::1]")
    assert not _is_local("::ffff:10.0.0.1") and not _is_local("192.168.1.1")
    assert not _is_local("localhost.example.com")
