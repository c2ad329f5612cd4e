"""The server-wide training slots: cap, FIFO queue, time-slicing, leases, thread safety."""

import threading

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


def test_thread_safety_never_exceeds_capacity():
    slots = TrainingSlots(capacity=2, quantum=0.001, lease=5)
    holding = set()
    lock = threading.Lock()
    peak = [0]

    def worker(name):
        for _ in range(300):
            if slots.request(name) == 0:
                with lock:
                    holding.add(name)
                    peak[0] = max(peak[0], len({h for h in holding if slots._holders.get(h)}))
                    holding.discard(name)
        slots.release(name)

    threads = [threading.Thread(target=worker, args=(f"s{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 2
    assert slots.status()["training"] == 0


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        TrainingSlots(capacity=0)
