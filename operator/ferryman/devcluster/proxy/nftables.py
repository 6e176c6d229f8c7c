"""Running `nft` in the root namespace or a node namespace."""

from __future__ import annotations

import shutil
import subprocess

from ferryman.devcluster.network import NetworkError
from ferryman.devcluster.proxy.rules import TABLE


def _find_nft() -> str | None:
    # /usr/sbin is not on every PATH (e.g. a non-login shell), and that is where Debian puts nft.
    return shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")


def nft_binary() -> str:
    found = _find_nft()
    if found is None:
        raise NetworkError(
            "nft not found: the dev cluster programs Service IPs with nftables; "
            "install it (apt-get install nftables)"
        )
    return found


def _command(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns, nft_binary()] if netns else [nft_binary()]


def apply(netns: str | None, script: str) -> None:
    """Run an `nft -f` script in one transaction: all of it applies, or none."""
    result = subprocess.run([*_command(netns), "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        where = netns or "the root namespace"
        raise NetworkError(f"nft in {where}: {result.stderr.strip()}")


def delete_table(netns: str | None) -> None:
    """Remove our table; nothing to do when it is absent (without nft, it was never made)."""
    if _find_nft() is None:
        return
    subprocess.run([*_command(netns), "delete", "table", "ip", TABLE], capture_output=True, check=False)


def has_table(netns: str | None) -> bool:
    listed = subprocess.run([*_command(netns), "list", "tables"], capture_output=True, text=True)
    return f"table ip {TABLE}" in listed.stdout
