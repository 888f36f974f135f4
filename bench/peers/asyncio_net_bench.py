#!/usr/bin/env python3
"""The network workloads of bench/common/echo.hpp on CPython's asyncio streams (the default
event loop; start_server, open_connection). One run per process, one JSON line per result.

    asyncio_net_bench.py --echo [--clients=N] [--messages=M]
        {"name": "echo/asyncio", "messages_per_second": ..., "p99_us": ..., ...}
    asyncio_net_bench.py --idle=N
        N idle connections, the server's side (the clients are plain sockets):
        {"name": "idle_server/asyncio", "heap_bytes_per_connection": ..., ...}
        heap bytes are tracemalloc's (requested sizes, no malloc headers).
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import time
import tracemalloc

K_ECHO_CLIENTS = 1_000
K_ECHO_MESSAGES = 100
K_ECHO_LINE_BYTES = 64
K_IDLE_CONNECTIONS = 10_000
K_BATCH = 500


def raise_descriptor_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def echo_line(client):
    line = f"client {client} ".encode()
    return line.ljust(K_ECHO_LINE_BYTES - 1, b"x") + b"\n"


def current_rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def quantile(samples, fraction):
    samples = sorted(samples)
    return samples[min(int(fraction * len(samples)), len(samples) - 1)] if samples else 0.0


# ---- echo ------------------------------------------------------------------------------------


async def echo_session(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def echo_client(reader, writer, client, messages, round_trips, done):
    line = echo_line(client)
    for _ in range(messages):
        start = time.perf_counter()
        writer.write(line)
        await writer.drain()
        echo = await reader.readline()
        if echo != line:
            raise RuntimeError(f"client {client} got a wrong echo")
        round_trips.append(time.perf_counter() - start)
        done[0] += 1
    writer.close()
    await writer.wait_closed()


async def echo_main(clients, messages):
    server = await asyncio.start_server(echo_session, "127.0.0.1", 0, backlog=clients)
    port = server.sockets[0].getsockname()[1]
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    round_trips = []
    done = [0]
    cpu_before = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(echo_client(reader, writer, client, messages, round_trips, done)
                           for client, (reader, writer) in enumerate(connections)))
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_before
    server.close()
    await server.wait_closed()
    return done[0], seconds, cpu_seconds, round_trips


def run_echo(clients, messages):
    done, seconds, cpu_seconds, round_trips = asyncio.run(echo_main(clients, messages))
    if done != clients * messages:
        print(f"asyncio_net_bench: {done} echoes, expected {clients * messages}", file=sys.stderr)
        return 1
    print(json.dumps({
        "name": "echo/asyncio", "clients": clients, "messages": done, "clock": "wall",
        "seconds": seconds, "cpu_seconds": cpu_seconds,
        "messages_per_second": done / seconds, "messages_per_cpu_second": done / cpu_seconds,
        "p50_us": quantile(round_trips, 0.50) * 1e6, "p99_us": quantile(round_trips, 0.99) * 1e6,
        "peak_rss_bytes": peak_rss_bytes()}), flush=True)
    return 0


# ---- idle connections: the server's side, against plain connect()s ---------------------------


async def idle_main(connections):
    accepted = [0]

    async def idle_session(reader, writer):
        accepted[0] += 1
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(idle_session, "127.0.0.1", 0, backlog=2 * K_BATCH)
    port = server.sockets[0].getsockname()[1]
    clients = []
    await asyncio.sleep(0.01)
    tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    rss_before = current_rss_bytes()
    while len(clients) < connections:
        for _ in range(min(K_BATCH, connections - len(clients))):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            try:
                client.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            clients.append(client)
        for _ in range(10_000):
            if accepted[0] >= len(clients):
                break
            await asyncio.sleep(0.001)
        else:
            raise RuntimeError(f"{accepted[0]} of {len(clients)} connections accepted")
    await asyncio.sleep(0.05)
    heap = tracemalloc.get_traced_memory()[0] - heap_before
    rss = current_rss_bytes() - rss_before
    tracemalloc.stop()
    print(json.dumps({"name": "idle_server/asyncio", "connections": connections,
                      "heap_bytes_per_connection": heap / connections,
                      "rss_bytes_per_connection": rss / connections}), flush=True)
    for client in clients:
        client.close()
    server.close()
    await server.wait_closed()


def run_idle(wanted):
    connections = max(1, min(wanted, (raise_descriptor_limit() - 64) // 2))
    asyncio.run(idle_main(connections))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--clients", type=int, default=K_ECHO_CLIENTS)
    parser.add_argument("--messages", type=int, default=K_ECHO_MESSAGES)
    parser.add_argument("--idle", type=int, default=0)
    args = parser.parse_args()
    raise_descriptor_limit()
    if args.echo:
        return run_echo(args.clients, args.messages)
    if args.idle > 0:
        return run_idle(args.idle)
    parser.print_usage(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
