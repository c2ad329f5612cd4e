"""bench/load.py counts a room's training on the server: the per-chunk step log and the CPU lists it pins to."""

import json

from bench.load import parse_cpus, server_steps


def test_server_steps_counts_only_the_window(tmp_path):
    log = tmp_path / "steps.jsonl"
    entries = [
        {"t": 9.0, "slot": "a", "step": 100},  # before the window: a's starting point
        {"t": 11.0, "slot": "a", "step": 160},
        {"t": 12.0, "slot": "b", "step": 30},  # b starts inside the window, from 0
        {"t": 19.5, "slot": "a", "step": 400},
        {"t": 21.0, "slot": "a", "step": 999},  # after the window: not counted
        {"t": 5.0, "slot": "c", "step": 50},  # trained only before the window: left out
    ]
    log.write_text("\n".join(json.dumps(e) for e in entries) + "\nnot json\n")
    assert server_steps(10.0, 20.0, log) == {"a": 300, "b": 30}


def test_server_steps_without_a_log_is_empty(tmp_path):
    assert server_steps(0.0, 1.0, tmp_path / "missing.jsonl") == {}


def test_parse_cpus():
    assert parse_cpus("0") == {0}
    assert parse_cpus("0,2-4") == {0, 2, 3, 4}
