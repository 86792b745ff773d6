"""The consent log's Merkle trees: RFC 6962 roots, checked against the definition and the
certificate-transparency test vectors."""

from __future__ import annotations

import hashlib

import pytest

from consent_server.consent_log.merkle import merkle_root


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally: split at the largest power of two smaller than n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("size", range(1, 18))
def test_merkle_root_equals_the_recursive_rfc6962_definition(size: int):
    leaves = [hashlib.sha256(f"receipt {i}".encode()).digest() for i in range(size)]
    assert merkle_root(leaves) == rfc6962_root(leaves)
    assert merkle_root(iter(leaves)) == rfc6962_root(leaves)


def test_merkle_root_matches_the_certificate_transparency_test_vectors():
    # The reference vectors of the certificate-transparency project's Merkle tree tests.
    data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    data.append("606162636465666768696a6b6c6d6e6f")
    roots = {
        1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    }
    leaves = [bytes.fromhex(d) for d in data]
    for size, root in roots.items():
        assert merkle_root(leaves[:size]).hex() == root
    assert merkle_root([]) == hashlib.sha256(b"").digest()


def test_merkle_root_changes_with_any_leaf_and_with_leaf_order():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    root = merkle_root(leaves)
    assert merkle_root([*leaves[:2], hashlib.sha256(b"x").digest(), *leaves[3:]]) != root
    assert merkle_root([leaves[1], leaves[0], *leaves[2:]]) != root
    assert merkle_root(leaves[:4]) != root
