"""The replay guard's idea of "this machine" (`core.connection_profile.not_this_machine`, used by the replay plan):
only the name `localhost` itself, loopback addresses however the C library spells them, and a reason for `0.0.0.0`
(issue 12.10). Checked against the OS's own `inet_aton` and against a real request to `127.1`."""

from __future__ import annotations

import itertools
import socket
import sys

import pytest

from inspector.core.connection_profile import is_loopback_host, not_this_machine
from inspector.core.hasura import RetryConf
from inspector.services.replay.plan import PlanEvent, PlanOptions, RemoteTargetRefused, TriggerInfo, build_plan


@pytest.mark.parametrize(
    "host",
    ["localhost", "LocalHost", "127.0.0.1", "127.1", "127.0.1", "0x7f000001", "0x7F.1", "017700000001", "0177.0.0.1",
     "2130706433", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::1%lo"],
)  # fmt: skip
def test_this_machine(host: str) -> None:
    assert not_this_machine(host) is None and is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    ["evil.localhost", "api.localhost", "localhost.", "LOCALHOST.", "localhost.example.com", "127.0.0.1.", "128.0.0.1",
     "127.0.0.1.nip.io", "0x80000001", "4294967296", "08.0.0.1", "1.2.3.4.5", "::2", "[::1]", "example.com", ""],
)  # fmt: skip
def test_not_this_machine(host: str) -> None:
    assert not_this_machine(host) is not None and not is_loopback_host(host)


def test_names_under_localhost_say_they_go_through_dns() -> None:
    assert "only the name localhost itself" in str(not_this_machine("evil.localhost"))
    assert "only the name localhost itself" in str(not_this_machine("localhost."))
    assert not_this_machine("example.com") == "not this machine"


@pytest.mark.parametrize("host", ["0.0.0.0", "0", "0x0", "0.0", "::ffff:0.0.0.0"])
def test_the_unspecified_address_is_refused_with_a_reason(host: str) -> None:
    assert not_this_machine(host) == "0.0.0.0 is not an address to send to; use 127.0.0.1"
    assert not_this_machine("::") == ":: is not an address to send to; use ::1"


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's inet_aton is the reference read")
def test_numeric_hosts_are_read_as_inet_aton_reads_them() -> None:
    atoms = ["0", "00", "07", "08", "0x", "0x7f", "0X1", "127", "255", "256", "1", "0x100", "4294967295",
             "16777216", "65536", "+1", "a", "", "0xff", "0377", "\u0661"]  # fmt: skip
    for parts in range(1, 6):
        for combo in itertools.islice(itertools.product(atoms, repeat=parts), 5000):
            host = ".".join(combo)
            try:
                expected: str | None = socket.inet_ntoa(socket.inet_aton(host))
            except OSError:
                expected = None
            local = expected is not None and expected.startswith("127.")
            assert is_loopback_host(host) is local, host


def test_a_host_called_local_really_is() -> None:
    """`127.1` and `0x7f000001` reach a socket listening on 127.0.0.1 (the OS's `getaddrinfo` reads them as
    `inet_aton` does), so counting them as this machine is what a connection to them does. (aiohttp refuses such
    non-canonical addresses outright, which is safe too.)"""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.1", "0x7f000001"):
            with socket.create_connection((host, port), timeout=5) as client:
                accepted, (peer, _) = server.accept()
                accepted.close()
                assert client.getpeername()[0] == "127.0.0.1" and peer == "127.0.0.1"


TRIGGER = TriggerInfo("validate-order", webhook="http://localhost:8081/v", retry_conf=RetryConf(0, 1, 60))


def _event() -> PlanEvent:
    return PlanEvent(
        id="e1",
        trigger_name="validate-order",
        schema_name="public",
        table_name="orders",
        payload={"op": "INSERT", "data": {"old": None, "new": {"order_id": "o1"}}},
        created_at="2024-03-01T12:00:01",
        created_ts=1_700_000_001.0,
        seq=1,
    )


def test_the_plan_names_the_reason_for_0_0_0_0() -> None:
    plan = build_plan([_event()], {"validate-order": TRIGGER}, PlanOptions(targets={"*": "http://0.0.0.0:1/x"}), {})
    assert plan.remote_hosts == ["0.0.0.0"]
    with pytest.raises(RemoteTargetRefused, match=r"0\.0\.0\.0 \(0\.0\.0\.0 is not an address to send to; use 127"):
        plan.check_consent(allow_remote=False)
    assert any("0.0.0.0 (REMOTE: 0.0.0.0 is not an address to send to" in line for line in plan.describe())
    for target, remote in (("http://127.1:1/x", []), ("http://evil.localhost:1/x", ["evil.localhost"])):
        other = build_plan([_event()], {"validate-order": TRIGGER}, PlanOptions(targets={"*": target}), {})
        assert other.remote_hosts == remote
