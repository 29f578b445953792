"""The real node's network guard (retrodiction_harness/realnode/network.py), as the commands it would run."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from retrodiction_harness.realnode.network import NodeNetwork, cni_config


class Recorder:
    def __init__(self, outputs: dict[str, str] | None = None) -> None:
        self.commands: list[list[str]] = []
        self.outputs = outputs or {}

    def __call__(self, argv: Sequence[str]) -> str:
        self.commands.append(list(argv))
        return self.outputs.get(" ".join(argv[:4]), "")


def position(commands: list[list[str]], *words: str) -> int:
    for index, argv in enumerate(commands):
        if all(word in " ".join(argv) for word in words):
            return index
    raise AssertionError(f"no command with {words}")


def test_the_guard_is_complete_before_the_bridge_gets_an_address() -> None:
    commands = NodeNetwork().up_commands()
    address = position(commands, "addr", "add")
    for guard in (("rule", "add"), ("blackhole", "default"), ("PREROUTING",), ("-j", "DROP"), ("route", "2137")):
        assert position(commands, *guard) < address, guard
    assert position(commands, "forwarding=1") > address


def test_forwarding_is_turned_on_for_the_bridge_only_and_the_default_route_is_never_touched() -> None:
    commands = NodeNetwork().up_commands() + NodeNetwork().down_commands()
    text = [" ".join(argv) for argv in commands]
    assert [line for line in text if "forwarding" in line] == ["sysctl -qw net.ipv4.conf.rtnode0.forwarding=1"]
    assert not [line for line in text if "ip_forward" in line or "conf.all." in line or "conf.default." in line]
    main_table_defaults = [line for line in text if "default" in line and "table 2137" not in line]
    assert main_table_defaults == []


def test_teardown_removes_everything_setup_made() -> None:
    net = NodeNetwork()
    down = [" ".join(argv) for argv in net.down_commands()]
    assert "ip link del rtnode0" in down
    assert "ip rule del priority 2137" in down
    assert "ip route flush table 2137" in down
    assert "iptables -w -t mangle -X RTNODE-GUARD" in down
    assert f"ip route del {net.service_cidr} dev rtnode0" in down


def test_a_range_in_use_on_the_machine_is_refused_before_anything_changes() -> None:
    addresses = [{"ifname": "eth0", "addr_info": [{"local": "10.213.0.7", "prefixlen": 16}]}]
    run = Recorder({"ip -j -4 addr": json.dumps(addresses), "ip -j -4 route": "[]"})
    net = NodeNetwork(run=run)
    with pytest.raises(RuntimeError, match="in use"):
        net.up()
    assert all(argv[:2] == ["ip", "-j"] for argv in run.commands)


def test_routes_to_other_places_do_not_count_as_conflicts() -> None:
    routes = [
        {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0"},
        {"dst": "10.0.0.0/24", "dev": "eth0"},
        {"dst": "10.213.64.0/24", "dev": "rtnode0"},
        {"dst": "10.213.0.5", "dev": "eth0", "type": "local", "table": "local"},
    ]
    run = Recorder({"ip -j -4 addr": "[]", "ip -j -4 route": json.dumps(routes)})
    assert NodeNetwork(run=run).conflicts() == []
    routes.append({"dst": "10.213.0.0/16", "dev": "tun0"})
    run.outputs["ip -j -4 route"] = json.dumps(routes)
    assert NodeNetwork(run=run).conflicts() == ["route 10.213.0.0/16 via tun0"]


def test_the_guard_counter_is_read_from_the_drop_rule() -> None:
    listing = (
        "Chain RTNODE-GUARD (1 references)\n"
        "    pkts      bytes target     prot opt in     out     source               destination\n"
        "      12      900 RETURN     0    --  *      *       0.0.0.0/0            10.213.0.0/24\n"
        "       0        0 RETURN     0    --  *      *       0.0.0.0/0            10.213.64.0/24\n"
        "       3      180 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0\n"
    )
    run = Recorder({"iptables -w -t mangle": listing})
    assert NodeNetwork(run=run).guard_drops() == 3


def test_pods_get_routes_to_the_pod_and_service_ranges_only(tmp_path: object) -> None:
    from pathlib import Path

    net = NodeNetwork()
    plugins = cni_config(net, Path("/tmp/x"))["plugins"]
    assert isinstance(plugins, list)
    [bridge] = plugins
    assert bridge["isGateway"] is False and bridge["ipMasq"] is False
    routes = bridge["ipam"]["routes"]
    assert routes == [{"dst": net.service_cidr, "gw": net.node_ip}]
    assert not [route for route in routes if route["dst"] in ("0.0.0.0/0", "default")]
    assert net.node_ip == "10.213.0.1" and net.dns_service_ip == "10.213.64.10"
