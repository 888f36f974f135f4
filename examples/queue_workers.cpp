// The README's queue example: a producer, three workers, a total guarded by a Lock, join().
// The same coroutine runs on the real loop and then in the simulator's virtual time.
#include <cstdio>
#include <memory>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

using namespace simrun;
using namespace std::chrono_literals;

struct Totals {
    Lock lock;
    int sum = 0;
    int done = 0;
};

// Parameters by pointer, not by reference: see "Things to know" in the README.
Coro<void> worker(Queue<int>* jobs, Totals* totals) {
    for (;;) {
        int job = co_await jobs->get();  // waits while the queue is empty
        co_await sleep(10ms);            // the work
        {
            LockGuard guard = co_await totals->lock.hold();  // async with lock:
            int sum = totals->sum;
            co_await sleep(1ms);  // still held across the co_await
            totals->sum = sum + job;
            ++totals->done;
        }  // released here, also on an exception or a cancellation
        jobs->task_done();
    }
}

Coro<int> process_jobs() {
    const Duration start = get_running_loop().time();
    Queue<int> jobs(4);  // put() waits while 4 jobs are queued
    Totals totals;
    std::vector<Task<void>> workers;
    for (int i = 0; i < 3; ++i)
        workers.push_back(create_task(worker(&jobs, &totals)));

    for (int job = 1; job <= 20; ++job)
        co_await jobs.put(job);
    co_await jobs.join();  // until every job was task_done()

    for (Task<void>& task : workers)
        task.cancel();
    co_await gather(workers, return_exceptions);  // until they have stopped
    std::printf("%d jobs, sum %d, in %.3f s\n", totals.done, totals.sum,
                to_seconds(get_running_loop().time() - start));
    co_return totals.sum == 210 ? 0 : 1;
}

int main() {
    int real = run(process_jobs());  // the epoll loop: about 0.1 s of real time
    int simulated = run(process_jobs(), {.loop_factory = [] {
                            return std::make_shared<sim::SimLoop>();
                        }});  // virtual time: "in 0.078 s" at once
    return real != 0 || simulated != 0;
}
