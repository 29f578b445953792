"""Pod addresses: handed out in turn, reused after release; each stand-in on a machine gets its own /24."""

from pathlib import Path

import pytest

from retrodiction_harness.node_ips import AddressPoolExhaustedError, PodAddressPool, SubnetClaim


def test_addresses_are_handed_out_in_turn_and_reused_after_release() -> None:
    pool = PodAddressPool("127.0.0", first=2, last=4)
    assert [pool.allocate(), pool.allocate()] == ["127.0.0.2", "127.0.0.3"]
    pool.release("127.0.0.2")
    assert pool.allocate() == "127.0.0.4"
    assert pool.allocate() == "127.0.0.2"
    with pytest.raises(AddressPoolExhaustedError):
        pool.allocate()


def test_two_stand_ins_never_share_a_subnet(tmp_path: Path) -> None:
    first, second = SubnetClaim(tmp_path), SubnetClaim(tmp_path)
    try:
        assert (first.prefix, second.prefix) == ("127.0.0", "127.0.1")
        first.release()
        third = SubnetClaim(tmp_path)
        assert third.prefix == "127.0.0"
        third.release()
    finally:
        first.release()
        second.release()
