#pragma once
// The physical floors: what each in-loop workload cannot do without, measured alone in the same
// run, no loop ("floor_<what>/none"): a std::function call, a coroutine resume, a heap push and
// pop, malloc + free, make_shared, an atomic increment, an empty epoll_wait. bench/tools/report.py
// prints the relevant one beside each row of the table.

namespace bench {

/// Registers the floor benchmarks with Google Benchmark.
void register_floors();

}  // namespace bench
