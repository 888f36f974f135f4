#!/usr/bin/env python3
"""Groups a flat perf profile by where the time goes (used by bench/tools/profile.sh).

    perf report --no-children --sort dso,sym --stdio -i DATA | perf_groups.py

Prints each group's share of the samples, then the top symbols.
"""

import re
import sys

# (group, regex on "dso symbol"), first match wins
GROUPS = [
    ("C++ exceptions (unwinder, personality, rethrow)",
     r"libgcc_s|__gxx_personality|__cxa_|_Unwind|_dl_find_object|rethrow_exception"),
    ("kernel (syscalls, page faults)", r"\[kernel"),
    ("malloc/free", r"_int_malloc|_int_free|\bmalloc\b|cfree|\bfree\b|unlink_chunk|malloc_consolidate|"
                    r"tcache|sysmalloc|operator new|operator delete|\(anonymous namespace\)::allocate|"
                    r"\(anonymous namespace\)::release"),
    ("syscall entry in libc (epoll_wait, read, write)", r"epoll_pwait|epoll_wait|__libc_read|__libc_write|"
                                                        r"\bread\b|\bwrite\b"),
    ("timer heap (push/pop/compare)", r"TimerHeap|__adjust_heap|__push_heap|__pop_heap|make_heap"),
    ("shared_ptr reference counts", r"_Sp_counted|_M_release|_M_add_ref|__shared_count|weak_ptr"),
    ("std::function", r"_Function_handler|_Function_base|_M_manager"),
    ("contexts (copy_context, ContextScope)", r"Context"),
    ("simulator trace (strings, formatting, digest)", r"Trace::|SimLoop::note|format_time|vfprintf|"
                                                       r"snprintf|printf_fp|__printf|short_text|"
                                                       r"before_callback|__mpn_|hack_digit"),
    ("mutexes and atomics", r"pthread_mutex|__lll_lock|futex"),
    ("memcpy/memset/strlen", r"memmove|memcpy|memset|strlen|__memcmp"),
    ("simrun: the loop", r"EventLoop::|EpollLoop::|SimLoop::|run_once|run_handle|make_handle|call_soon|call_at"),
    ("simrun: tasks and futures", r"TaskBase|TaskState|FutureState|Future|Task<|schedule_callbacks|"
                                  r"count_frame|simrun::sleep|YieldNow|CancelledError|Coro"),
    ("other simrun", r"simrun::"),
    ("the benchmark's own code", r"\(anonymous namespace\)::|bm_"),
]


def main():
    totals = {}
    symbols = []
    line_re = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[\.?k?\]\s+(.*)$")
    for line in sys.stdin:
        match = line_re.match(line)
        if not match:
            match = re.match(r"^\s*([\d.]+)%\s+(.*)$", line)
            if not match:
                continue
            share, text = float(match.group(1)), match.group(2)
        else:
            share, text = float(match.group(1)), match.group(2) + " " + match.group(3)
        symbols.append((share, text.strip()))
        group = next((name for name, pattern in GROUPS if re.search(pattern, text)), "other")
        totals[group] = totals.get(group, 0.0) + share
    print("where the time goes (share of samples):")
    for group, share in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {share:5.1f}%  {group}")
    print("top symbols:")
    for share, text in sorted(symbols, reverse=True)[:12]:
        print(f"  {share:5.1f}%  {text[:110]}")


if __name__ == "__main__":
    main()
