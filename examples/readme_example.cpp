// The README's example: a service with a background task, stopped by Ctrl-C, run in virtual time.
#include <csignal>
#include <cstdio>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

using namespace simrun;
using namespace std::chrono_literals;

Coro<void> heartbeat() {
    for (;;)
        co_await sleep(1s);  // cancelled by the Runner's shutdown
}

Coro<int> service() {
    create_task(heartbeat());
    try {
        co_await sleep(24h);  // serve until Ctrl-C
    } catch (const CancelledError&) {
        std::puts("Ctrl-C: shutting down");  // co_await is not allowed here; rethrow
        throw;
    }
    co_return 0;
}

int main() {
    auto loop = std::make_shared<sim::SimLoop>(sim::SimOptions{.seed = 7});
    loop->fake_signals().schedule_at(90min, SIGINT);  // Ctrl-C after 90 virtual minutes
    try {
        return run(service(), {.loop_factory = [loop] { return loop; }});
    } catch (const KeyboardInterrupt&) {
        std::printf("KeyboardInterrupt at t=%.0f s, %llu steps\n", to_seconds(loop->time()),
                    static_cast<unsigned long long>(loop->steps()));
        return 130;
    }
}
