"""Parsing streams: memory held while events flow does not grow with how many there are."""

import tracemalloc

import pytest
from mlsleuth.parsers import parse_input
from parser_helpers import T0, put


def peak_while_parsing(root) -> tuple[int, int]:
    tracemalloc.start()
    count = 0
    for _event in parse_input(root):
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def history(n: int) -> str:
    return "".join(f"#{1762765200 + i}\npython train.py --model org/m{i % 50} --seed {i}\n" for i in range(n))


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_events(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    for root, n in ((small, 1_500), (big, 9_000)):
        put(root, "/etc/hostname", "h\n")
        put(root, "/home/alice/.bash_history", history(n), mtime=T0)
        put(root, "/home/alice/.zsh_history",
            "".join(f": {1762765200 + i}:0;ls {i}\n" for i in range(n)), mtime=T0)
    n_small, peak_small = peak_while_parsing(small)
    n_big, peak_big = peak_while_parsing(big)
    assert (n_small, n_big) == (3_000, 18_000)
    assert peak_big < peak_small * 1.5 + (256 << 10), (peak_small, peak_big)
