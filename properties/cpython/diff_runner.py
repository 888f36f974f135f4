"""The CPython half of the differential campaign (scripts/diff-cpython.sh).

Runs the random programs of simrun's property generator on CPython 3.13's own asyncio.Runner in
VIRTUAL time (virtual_asyncio.py, interpreter.py) and compares the events with simrun's (printed
by simrun_diff_programs), putting every program in a category (docs/testing.md).

Standard library only. Usage: diff_runner.py --tool PATH [--seed S] [--count N | --seconds T]
"""

import argparse
import collections
import copy
import gc
import random
import re
import subprocess
import sys
import time as realtime

from interpreter import run_cpython
from programs import Program


END_EVENTS = ("report never-retrieved", "report destroyed-pending")


TASK_N = re.compile(r"\bTask-\d+\b")


def normalise(events):
    """Reports that depend on when an object is freed (CPython: reference counts and the garbage
    collector; simrun: handle destruction, loop close) are compared as a set at the end. Names of
    tasks the program did not name (Task-N, counted per process in CPython, per loop in simrun:
    divergence 7) are compared as "Task-*"."""
    events = [(t, TASK_N.sub("Task-*", e)) for t, e in events]
    timeline = [(t, e) for t, e in events if not e.startswith(END_EVENTS)]
    final = sorted(e for _, e in events if e.startswith(END_EVENTS))
    return timeline, final


def groups(timeline):
    out = []
    for t, e in timeline:
        if out and out[-1][0] == t:
            out[-1][1].append(e)
        else:
            out.append((t, [e]))
    return out


# CPython variants, each switching one more of CPython's free choices or one more documented
# divergence to simrun's side; a program whose traces agree only from variant N on is put in
# VARIANTS[N]'s category.


VARIANTS = [
    None,
    "undefined order: set iteration (all_tasks(), async generators; divergence 8)",
    "divergence 49? shutdown_asyncgens() awaits closes begun by the finalizer hook",
    "divergence 4: SIGINT inside a callback handled at the loop's next step",
    "divergences 4+19a: ... and the stale stop callback of run_until_complete() disarmed",
    "divergence 24 (with 4, 19a): a queued executor job withdrawn inside cancel()",
]


def compare(simrun_events, world):
    """'identical', 'tie' (equal up to the order of events at instants where timers (or a job
    completion and a timer) were due together), or None."""
    ours, our_final = normalise(simrun_events)
    theirs, their_final = normalise(world.events)
    if ours == theirs and our_final == their_final:
        return "identical"
    if our_final == their_final:
        a, b = groups(ours), groups(theirs)
        if len(a) == len(b) and all(ta == tb and sorted(ea) == sorted(eb)
                                    for (ta, ea), (tb, eb) in zip(a, b)):
            if all(ea == eb or ta in world.ties for (ta, ea), (_, eb) in zip(a, b)):
                return "tie"
    return None


def other_tie_breaks(program, count=6):
    """The program with other simulator choices. In the campaign's programs (job durations given)
    the choices decide only the order of timers (and job completions) due at the same instant."""
    rng = random.Random(program.format())
    out = []
    for i in range(count):
        c = copy.deepcopy(program)
        c.choices = "" if i == 0 else ",".join(str(rng.getrandbits(20)) for _ in range(64))
        out.append(c)
    return out


def classify(program, simrun_events, world, simrun=None):
    verdict = compare(simrun_events, world)
    if verdict == "identical":
        return "identical", None
    if verdict == "tie":
        return "undefined order: timer ties", None
    alternatives = []
    if simrun is not None:
        # A tie's consequences can reach later instants: if simrun, breaking its timer ties
        # differently, gives CPython's trace, the difference is the order of a tie.
        alternatives = [simrun.run(c) for c in other_tie_breaks(program)]
        if any(compare(events, world) for events in alternatives):
            return "undefined order: timer ties (reached later events)", None
    for variant in range(1, len(VARIANTS)):
        variant_world = run_cpython(program, variant)
        if compare(simrun_events, variant_world):
            return VARIANTS[variant], None
        if any(compare(events, variant_world) for events in alternatives):
            return VARIANTS[variant] + " (and a timer tie)", None
    # The simulator's stand-in for a killed process (second SIGINT inside a long callback).
    if "sigint-in-busy" in world.flags and any(e == "outcome ProcessTerminated"
                                               for _, e in simrun_events):
        return "divergence 4: the grace rule ended the process (ProcessTerminated)", None
    ours, our_final = normalise(simrun_events)
    theirs, their_final = normalise(world.events)
    return "unexplained", first_difference(ours + [(None, x) for x in our_final],
                                           theirs + [(None, x) for x in their_final])


def signature(diff):
    """The first difference with names and numbers taken out: unexplained differences with the
    same signature most likely have one cause."""
    if diff is None:
        return ""
    _, a, b = diff
    def strip(x):
        return "-" if x is None else re.sub(r"\b(t\d+(\.\d+)?|\d+)\b", "#", x[1])
    return f"simrun '{strip(a)}' / cpython '{strip(b)}'"


def first_difference(ours, theirs):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return i, a, b
    n = min(len(ours), len(theirs))
    return n, ours[n] if n < len(ours) else None, theirs[n] if n < len(theirs) else None


# ---------------------------------------------------------------------------------------------
# simrun's side

class Simrun:
    def __init__(self, tool):
        self.tool = tool
        self.proc = None

    def blocks(self, stream):
        program, events = None, []
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("P "):
                program, events = Program(line[2:]), []
            elif line.startswith("E "):
                _, t, text = line.split(" ", 2)
                events.append((int(t), text))
            elif line == ".":
                yield program, events

    def generate(self, seed, count):
        proc = subprocess.Popen([self.tool, "generate", str(seed), str(count)],
                                stdout=subprocess.PIPE, text=True, bufsize=1 << 20)
        yield from self.blocks(proc.stdout)
        proc.wait()

    def run(self, program):
        if self.proc is None:
            self.proc = subprocess.Popen([self.tool, "run"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(program.format() + "\n")
        self.proc.stdin.flush()
        return next(self.blocks(self.proc.stdout))[1]


def category_of(simrun, program):
    return classify(program, simrun.run(program), run_cpython(program), simrun)[0]


def shrink(simrun, program, category="unexplained", budget=300):
    """Deletes steps, tasks (their spawns), SIGINTs and the external cancel while the program
    stays in `category`; at most `budget` re-runs of both sides."""
    best = program
    changed = True
    while changed and budget > 0:
        changed = False
        candidates = []
        if best.choices:  # simrun's tie-breaks
            c = copy.deepcopy(best)
            c.choices = ""
            candidates.append(c)
        if best.ext is not None:
            c = copy.deepcopy(best)
            c.ext = None
            candidates.append(c)
        for i in range(len(best.sigints)):
            c = copy.deepcopy(best)
            del c.sigints[i]
            candidates.append(c)
        for ti in range(len(best.tasks) - 1, 0, -1):  # drop a task: nobody starts it any more
            c = copy.deepcopy(best)
            for task in c.tasks:
                task[4] = [s for s in task[4] if not (s[0] == "spawn" and s[3] == ti)]
                for s in task[4]:
                    if s[0] == "group":
                        s[3] = 0 if s[3] == ti else s[3]
                        s[4] = 0 if s[4] == ti else s[4]
            candidates.append(c)
        for ti, task in enumerate(best.tasks):
            for si in range(len(task[4])):
                c = copy.deepcopy(best)
                del c.tasks[ti][4][si]
                candidates.append(c)
        current = best.format()
        for c in candidates:
            if c.format() == current:
                continue
            budget -= 1
            if budget < 0:
                break
            if category_of(simrun, c) == category:
                best = c
                changed = True
                break
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--show", type=int, default=5, help="unexplained cases to shrink/show")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--shrink-category", help="shrink the first program of this category "
                        "and print it (to see a category's smallest example)")
    parser.add_argument("--variant", type=int, default=0, help="with --program: the CPython "
                        "variant to print (see VARIANTS)")
    parser.add_argument("--program", help="run one program line and print both traces")
    args = parser.parse_args()
    # Collections happen only where run_cpython() asks for one (after each program), and they
    # scan only that program's objects.
    gc.disable()
    gc.freeze()
    simrun = Simrun(args.tool)
    if args.program:
        program = Program(args.program)
        ours = simrun.run(program)
        world = run_cpython(program)
        print(classify(program, ours, world, simrun))
        world = run_cpython(program, args.variant)
        for label, events in (("simrun", ours), ("cpython", world.events)):
            print(f"--- {label}")
            for t, e in events:
                print(f"{t / 1000:12.3f}ms {e}")
        return 0
    counts = collections.Counter()
    signatures = collections.Counter()
    unexplained = []
    start = realtime.monotonic()
    batch = 2000
    seed = args.seed
    done = 0
    while True:
        n = batch if args.seconds else min(batch, args.count - done)
        if n <= 0:
            break
        for program, events in simrun.generate(seed, n):
            category, diff = classify(program, events, run_cpython(program), simrun)
            counts[category] += 1
            if args.shrink_category and category.startswith(args.shrink_category):
                small = shrink(simrun, program, category)
                print(f"{category}: smallest program found:\n  {small.format()}")
                return 0
            if category == "unexplained":
                sig = signature(diff)
                signatures[sig] += 1
                if signatures[sig] <= args.show:
                    unexplained.append((program, diff, sig))
            done += 1
        seed += 1
        elapsed = realtime.monotonic() - start
        print(f"  {done} programs, {done / max(elapsed, 1e-9):.0f}/s, "
              f"{counts['unexplained']} unexplained", file=sys.stderr, flush=True)
        if args.seconds and realtime.monotonic() - start >= args.seconds:
            break
    elapsed = realtime.monotonic() - start
    print(f"\n{done} programs in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.0f}/s), "
          f"seeds {args.seed}..{seed - 1}")
    print(f"{'category':55} {'programs':>9} {'share':>7}")
    for category, n in counts.most_common():
        print(f"{category:55} {n:9} {100 * n / done:6.2f}%")
    if signatures:
        print("\nunexplained differences by their first differing events:")
        for sig, n in signatures.most_common():
            print(f"{n:9}  {sig}")
    sys.stdout.flush()
    for program, diff, sig in unexplained:
        if args.no_shrink or args.shrink_category:
            print("\nunexplained; first difference (index, simrun, cpython):", diff)
            print("program:", program.format())
            continue
        small = shrink(simrun, program)
        print("\nunexplained; first difference (index, simrun, cpython):", diff)
        print("minimal program:", small.format())
        print(f"  replay: {sys.argv[0]} --tool {args.tool} --program '{small.format()}'")
    return 1 if counts["unexplained"] else 0


if __name__ == "__main__":
    sys.exit(main())
