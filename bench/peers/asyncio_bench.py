#!/usr/bin/env python3
"""The workloads of bench/common/workloads.hpp on CPython's asyncio (the default event loop).

    asyncio_bench.py [--repetitions=N] [--min-time=SECONDS] [--filter=SUBSTRING]
        prints one JSON object per line and repetition:
        {"name": "callbacks/asyncio", "repetition": 0, "ns_per_op": 123.4}
        (pending_memory gives bytes instead: bytes_per_task, frame_bytes, bookkeeping_bytes)
    asyncio_bench.py --sleepers=N
        one run of the sleepers workload: {"name": "sleepers/asyncio", "seconds": ...,
        "peak_rss_bytes": ...}

Each workload function runs one batch and returns (operations, nanoseconds); a repetition runs
batches until --min-time has passed, as Google Benchmark does for the C++ programs. The batch
sizes are those of workloads.hpp. Clocks as in bench/common/stopwatch.hpp: the loop thread's CPU
time for workloads that run on it alone (wall time with BENCH_CLOCK=wall), wall time for the
executor and threadsafe workloads.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import threading
import time
import tracemalloc

K_CALLBACKS = 10_000
K_TASKS = 10_000
K_YIELDS = 10_000
K_TIMERS = 10_000
K_LIVE_TIMERS = 10_000
K_TIMER_CANCELS = 10_000
K_CANCEL_TASKS = 1_000
K_EXECUTOR_TRIPS = 1_000
K_THREADSAFE_TRIPS = 1_000
K_PENDING_TASKS = 100_000

wall_ns = time.perf_counter_ns
now_ns = wall_ns if os.environ.get("BENCH_CLOCK") == "wall" else time.thread_time_ns


def run_one_pass(loop):
    """One loop iteration: everything ready now (and timers due now), then stop."""
    loop.call_soon(loop.stop)
    loop.run_forever()


class Counter:
    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1


# ---- callbacks, tasks, yields ----------------------------------------------------------------


def callbacks(loop):
    counter = Counter()
    start = now_ns()
    for _ in range(K_CALLBACKS):
        loop.call_soon(counter.bump)
    run_one_pass(loop)
    elapsed = now_ns() - start
    assert counter.n == K_CALLBACKS
    return K_CALLBACKS, elapsed


async def trivial_task(counter):
    counter.n += 1


def tasks(loop):
    counter = Counter()
    start = now_ns()
    created = [loop.create_task(trivial_task(counter)) for _ in range(K_TASKS)]
    loop.run_until_complete(created[-1])  # FIFO: the last one ends last
    del created
    elapsed = now_ns() - start
    assert counter.n == K_TASKS
    return K_TASKS, elapsed


async def sleep_zero_loop(yields, counter):
    for _ in range(yields):
        await asyncio.sleep(0)
        counter.n += 1


def sleep0(loop):
    counter = Counter()
    start = now_ns()
    loop.run_until_complete(sleep_zero_loop(K_YIELDS, counter))
    elapsed = now_ns() - start
    assert counter.n == K_YIELDS
    return K_YIELDS, elapsed


# ---- timers ----------------------------------------------------------------------------------

OFFSETS = list(range(K_TIMERS))
random.Random(42).shuffle(OFFSETS)


def timers_fire(loop):
    counter = Counter()
    start = now_ns()
    base = loop.time()
    for offset in OFFSETS:
        loop.call_at(base + offset * 1e-9, counter.bump)
    loop.call_at(base + K_TIMERS * 1e-9, loop.stop)
    loop.run_forever()
    elapsed = now_ns() - start
    assert counter.n == K_TIMERS
    return K_TIMERS, elapsed


def make_timers_cancel(loop):
    live = [loop.call_later(3600 + i * 1e-6, lambda: None) for i in range(K_LIVE_TIMERS)]
    fired = Counter()

    def timers_cancel(loop):
        start = now_ns()
        for i in range(K_TIMER_CANCELS):
            timer = loop.call_later(3600 + ((i * 7919) % K_LIVE_TIMERS) * 1e-6, fired.bump)
            timer.cancel()
        run_one_pass(loop)
        elapsed = now_ns() - start
        assert fired.n == 0 and live
        return K_TIMER_CANCELS, elapsed

    return timers_cancel


# ---- cancellation ----------------------------------------------------------------------------


async def await_at_depth(future, depth):
    if depth <= 1:
        await future
        return
    await await_at_depth(future, depth - 1)


def make_cancel(depth):
    def cancel(loop):
        futures = [loop.create_future() for _ in range(K_CANCEL_TASKS)]
        created = [loop.create_task(await_at_depth(f, depth)) for f in futures]
        run_one_pass(loop)  # every task is now suspended on its future
        start = now_ns()
        for task in created:
            task.cancel()
        run_one_pass(loop)
        elapsed = now_ns() - start
        assert all(task.cancelled() for task in created)
        return K_CANCEL_TASKS, elapsed

    return cancel


# ---- executor and threads --------------------------------------------------------------------


def one():
    return 1


async def executor_trips(loop, trips):
    total = 0
    for _ in range(trips):
        total += await loop.run_in_executor(None, one)
    return total


def executor(loop):
    start = wall_ns()
    total = loop.run_until_complete(executor_trips(loop, K_EXECUTOR_TRIPS))
    elapsed = wall_ns() - start
    assert total == K_EXECUTOR_TRIPS
    return K_EXECUTOR_TRIPS, elapsed


def threadsafe(loop):
    pong = threading.Lock()
    pong.acquire()

    def other():
        for _ in range(K_THREADSAFE_TRIPS):
            loop.call_soon_threadsafe(pong.release)
            pong.acquire()
        loop.call_soon_threadsafe(loop.stop)

    start = wall_ns()
    thread = threading.Thread(target=other)
    thread.start()
    loop.run_forever()
    thread.join()
    return K_THREADSAFE_TRIPS, wall_ns() - start


# ---- memory ----------------------------------------------------------------------------------


async def pending_task(future):
    await future


def pending_memory(loop):
    """Bytes (tracemalloc: requested sizes) per task pending on one shared future."""
    future = loop.create_future()
    tracemalloc.start()
    frames = [None] * K_PENDING_TASKS
    base = tracemalloc.get_traced_memory()[0]
    for i in range(K_PENDING_TASKS):
        frames[i] = pending_task(future)
    frame_bytes = (tracemalloc.get_traced_memory()[0] - base) / K_PENDING_TASKS
    for coro in frames:
        coro.close()
    del frames
    created = [None] * K_PENDING_TASKS
    base = tracemalloc.get_traced_memory()[0]
    for i in range(K_PENDING_TASKS):
        created[i] = loop.create_task(pending_task(future))
    run_one_pass(loop)
    task_bytes = (tracemalloc.get_traced_memory()[0] - base) / K_PENDING_TASKS
    tracemalloc.stop()
    future.set_result(None)
    run_one_pass(loop)
    return {
        "bytes_per_task": task_bytes,
        "frame_bytes": frame_bytes,
        "bookkeeping_bytes": task_bytes - frame_bytes,
    }


# ---- the sleepers workload -------------------------------------------------------------------


async def sleeper(delay, remaining, all_done):
    await asyncio.sleep(delay)
    remaining.n -= 1
    if remaining.n == 0:
        all_done.set_result(None)


async def sleepers_main(count):
    loop = asyncio.get_running_loop()
    all_done = loop.create_future()
    remaining = Counter()
    remaining.n = count
    for i in range(count):
        loop.create_task(sleeper((1000 + i % 1000) * 1e-6, remaining, all_done))
    await all_done


def run_sleepers(count):
    loop = asyncio.new_event_loop()
    cpu_before = time.process_time()
    start = wall_ns()
    loop.run_until_complete(sleepers_main(count))
    seconds = (wall_ns() - start) / 1e9
    cpu_seconds = time.process_time() - cpu_before
    loop.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"name": "sleepers/asyncio", "tasks": count, "seconds": seconds,
                      "cpu_seconds": cpu_seconds, "peak_rss_bytes": peak}))


# ---- the harness -----------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--filter", default="")
    parser.add_argument("--sleepers", type=int, default=0)
    args = parser.parse_args()
    if args.sleepers > 0:
        run_sleepers(args.sleepers)
        return

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    timed = {
        "callbacks": callbacks,
        "tasks": tasks,
        "sleep0": sleep0,
        "timers_fire": timers_fire,
        "timers_cancel": make_timers_cancel(loop),
        "cancel_depth1": make_cancel(1),
        "cancel_depth10": make_cancel(10),
        "executor": executor,
        "threadsafe": threadsafe,
    }
    for repetition in range(args.repetitions):  # repetitions interleave the workloads
        for name, workload in timed.items():
            if args.filter not in name:
                continue
            ops = elapsed = 0
            while elapsed < args.min_time * 1e9 or ops == 0:
                batch_ops, batch_ns = workload(loop)
                ops += batch_ops
                elapsed += batch_ns
            print(json.dumps({"name": name + "/asyncio", "repetition": repetition,
                              "ns_per_op": elapsed / ops}), flush=True)
        if args.filter in "pending_memory":
            result = {"name": "pending_memory/asyncio", "repetition": repetition}
            result.update(pending_memory(loop))
            print(json.dumps(result), flush=True)
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


if __name__ == "__main__":
    sys.exit(main())
