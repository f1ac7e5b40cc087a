"""Port choice: the stable default when free, another free port when it is taken."""

from __future__ import annotations

import socket

from coelho.stack.ports import free_port, port_is_free


def test_a_free_preferred_port_is_kept() -> None:
    spare = free_port()
    assert free_port(spare) == spare


def test_a_taken_port_falls_back_to_another() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert not port_is_free(busy)
        chosen = free_port(busy)
    assert chosen != busy
    assert port_is_free(chosen)


def test_promised_ports_are_not_handed_out_twice() -> None:
    spare = free_port()
    assert free_port(spare, taken={spare}) != spare
