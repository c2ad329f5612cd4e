"""The server-wide training slots: cap, FIFO queue, time-slicing, leases, thread safety."""

import threading
import time

import pytest

from playground.serving.scheduler import TrainingSlots


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_cap_and_queue_positions():
    clock = FakeClock()
    slots = TrainingSlots(capacity=2, quantum=100, lease=10, clock=clock)
    assert [slots.request(s) for s in "abcd"] == [0, 0, 1, 2]
    assert slots.status() == {"training": 2, "waiting": 2, "capacity": 2}
    slots.release("a")
    assert slots.request("c") == 0 and slots.request("d") == 1


def test_time_slicing_hands_the_slot_on_and_everyone_is_served():
    clock = FakeClock()
    slots = TrainingSlots(capacity=1, quantum=5, lease=10, clock=clock)
    served = {s: 0 for s in "abc"}
    for _ in range(60):  # 60 one-second frames, every session asking each frame
        for s in "abc":
            if slots.request(s) == 0:
                served[s] += 1
        clock.now += 1
    assert all(v >= 15 for v in served.values()), served
    assert max(served.values()) <= 2 * min(served.values())


def test_a_lone_holder_keeps_its_slot_past_the_quantum():
    clock = FakeClock()
    slots = TrainingSlots(capacity=1, quantum=5, lease=10, clock=clock)
    for _ in range(20):
        assert slots.request("solo") == 0
        clock.now += 1


def test_sessions_that_stop_asking_lose_their_slot_and_place():
    clock = FakeClock()
    slots = TrainingSlots(capacity=1, quantum=100, lease=3, clock=clock)
    assert slots.request("gone") == 0
    assert slots.request("waiter-gone") == 1
    assert slots.request("b") == 2
    clock.now += 2
    assert slots.request("b") == 2
    clock.now += 2  # "gone" and "waiter-gone" last asked 4 s ago
    assert slots.request("b") == 0
    assert slots.status()["waiting"] == 0


def test_eight_threads_share_two_slots_and_all_get_turns():
    slots = TrainingSlots(capacity=2, quantum=0.001, lease=5)
    peak, grants = [0], {f"s{i}": 0 for i in range(8)}
    start = threading.Barrier(8)

    def worker(name):
        start.wait()
        for _ in range(300):
            if slots.request(name) == 0:
                grants[name] += 1
            peak[0] = max(peak[0], slots.status()["training"])
            time.sleep(0.0002)  # let the other threads in (each one is a session's script thread)
        slots.release(name)

    threads = [threading.Thread(target=worker, args=(name,)) for name in grants]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2  # both slots were used, never more
    assert all(count > 0 for count in grants.values()), grants  # time-slicing gave every session a turn
    assert slots.status() == {"training": 0, "waiting": 0, "capacity": 2}


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        TrainingSlots(capacity=0)


def test_a_queued_session_is_woken_when_the_slot_is_handed_on():
    slots = TrainingSlots(capacity=1, quantum=60, lease=5)
    assert slots.request("a") == 0 and slots.request("b") == 1
    woke = []

    def queued():
        started = time.monotonic()
        slots.wait_for_change(5.0)
        woke.append((time.monotonic() - started, slots.request("b")))

    thread = threading.Thread(target=queued)
    thread.start()
    time.sleep(0.1)
    slots.release("a")
    thread.join(5.0)
    assert woke and woke[0][1] == 0  # b holds the slot now
    assert woke[0][0] < 1.0  # woken by the hand-over, not by the 5-s timeout
