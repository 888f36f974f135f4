"""CPython's asyncio in virtual time, for the differential campaign (diff_runner.py):

- VirtualLoop: a SelectorEventLoop whose time() is a virtual clock and whose selector never
  blocks: select() moves the clock to the next timer, executor completion or SIGINT.
- SIGINTs: at its virtual time, the Python-level SIGINT handler installed at that moment (the
  Runner's, or default_int_handler during close()) is called from select(), which is where a real
  signal's handler runs while the loop waits. A SIGINT inside a busy step is delivered inside it,
  as between two bytecodes.
- FakeExecutor: the default executor; `workers` jobs at a time in FIFO order, job i takes
  costs[i % len] of virtual time, a job named "hang" never finishes.

World.variant switches CPython's free choices (and simrun's documented divergences) to simrun's,
one at a time: see VARIANTS in diff_runner.py.
"""

import asyncio
import asyncio.runners
import collections
import concurrent.futures
import heapq
import selectors
import signal
import weakref

US = 1e-6


class Deadlock(Exception):
    pass


class FakeExecutor(concurrent.futures.Executor):
    def __init__(self, world):
        self.world = world
        self.queue = collections.deque()
        self.running = []  # heap of (done time us, index, future, fn)
        self.hung = 0
        self.submitted = 0
        self.closed = False
        self.on_joined = []
        self.awaiting = {}

    def submit(self, fn, /, *args, **kwargs):
        if self.closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future = concurrent.futures.Future()
        index = self.submitted
        self.submitted += 1
        costs = self.world.program.costs
        cost = None if fn.__name__ == "hang" else costs[index % len(costs)]
        self.queue.append((future, fn, cost, index))
        self.start_queued()
        return future

    def note_awaiting(self, future, awaiting):
        """The asyncio future that wraps `future` (variant 5)."""
        if any(queued[0] is future for queued in self.queue):
            self.awaiting[future] = awaiting

    def start_queued(self):
        while len(self.running) + self.hung < self.world.program.workers and self.queue:
            future, fn, cost, index = self.queue.popleft()
            awaiting = self.awaiting.pop(future, None)
            if self.world.variant >= 5 and awaiting is not None and awaiting.cancelled():
                # Variant 5 (divergence 24): simrun withdraws a queued job inside cancel() of
                # the future awaiting it; CPython cancels the job one loop pass later.
                future.cancel()
                continue
            if not future.set_running_or_notify_cancel():
                continue
            if cost is None:
                self.hung += 1
                continue
            heapq.heappush(self.running, (self.world.now + cost, index, future, fn))

    def next_completion(self):
        return self.running[0][0] if self.running else None

    def complete_due(self):
        while self.running and self.running[0][0] <= self.world.now:
            _, _, future, fn = heapq.heappop(self.running)
            future.set_result(fn())
            self.start_queued()
        self.notify_if_joined()

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.closed = True

    def join_async(self, callback):
        self.closed = True
        self.on_joined.append(callback)
        self.notify_if_joined()

    def notify_if_joined(self):
        if self.closed and not self.queue and not self.running and not self.hung:
            callbacks, self.on_joined = self.on_joined, []
            for callback in callbacks:
                callback()


class FakeSelector(selectors._BaseSelectorImpl):
    def __init__(self, world):
        super().__init__()
        self.world = world

    def select(self, timeout=None):
        world = self.world
        loop = world.loop
        candidates = []
        if timeout is None or timeout > 0:
            if timeout is not None and loop._scheduled:
                candidates.append(_us(loop._scheduled[0]._when))
            executor = loop._default_executor
            if executor is not None and executor.next_completion() is not None:
                candidates.append(executor.next_completion())
            if world.sigints:
                candidates.append(world.sigints[0])
            if not candidates:
                raise Deadlock("nothing can wake the loop")
            world.now = max(world.now, min(candidates))
        world.deliver()
        world.note_ties()
        return []


def _us(seconds):
    return round(seconds * 1e6)


class World:
    """One program's virtual time, executor, SIGINTs and events. `variant` switches CPython's
    free choices (and simrun's documented divergences) to simrun's, one at a time (VARIANTS)."""

    def __init__(self, program, variant=0):
        self.program = program
        self.variant = variant
        self.created = 0  # tasks created (their creation order)
        self.finalized = []  # async generators handed to the finalizer hook
        self.deferred = 0  # variant 3: SIGINTs waiting for the end of the callback
        self.now = 0  # us
        self.sigints = list(program.sigints)
        self.events = []
        self.ties = set()  # instants where CPython leaves an order undefined
        self.loop = None
        self.flags = set()

    def event(self, text):
        self.events.append((self.now, text))

    def deliver(self):
        """Executor completions and SIGINTs due now (a SIGINT handler may raise)."""
        executor = self.loop._default_executor if self.loop else None
        while True:
            if executor is not None:
                executor.complete_due()
            if self.sigints and self.sigints[0] <= self.now:
                self.sigints.pop(0)
                handler = signal.getsignal(signal.SIGINT)
                if callable(handler):
                    handler(signal.SIGINT, None)
                continue
            break

    def note_ties(self):
        """Two timers due at the same instant, or a job completion and a timer: the order is
        the heap's (or the threads'), which CPython does not define."""
        loop = self.loop
        due = [h._when for h in loop._scheduled if not h._cancelled and _us(h._when) <= self.now]
        whens = sorted(_us(w) for w in due)
        if any(a == b for a, b in zip(whens, whens[1:])):
            self.ties.add(self.now)
        executor = loop._default_executor
        if executor is not None and executor.just_completed_at == self.now and due:
            self.ties.add(self.now)

    def busy(self, duration):
        """A callback that keeps the thread busy: SIGINTs arrive inside it, and CPython runs
        their handler there (between two bytecodes). Variant 3 defers them to the loop's next
        step, simrun's rule (divergence 4)."""
        end = self.now + duration
        while self.sigints and self.sigints[0] <= end:
            self.now = max(self.now, self.sigints[0])
            self.sigints.pop(0)
            self.flags.add("sigint-in-busy")
            if self.variant >= 3:
                self.deferred += 1
                continue
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                handler(signal.SIGINT, None)
        self.now = end

    def deliver_deferred(self):
        """Variant 3: SIGINTs that arrived inside a callback, handled after it; when a handler
        raises, the others still waiting are merged into that KeyboardInterrupt."""
        while self.deferred:
            self.deferred -= 1
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                try:
                    handler(signal.SIGINT, None)
                except KeyboardInterrupt:
                    self.deferred = 0
                    raise


class FakeExecutorWithTies(FakeExecutor):
    just_completed_at = None

    def complete_due(self):
        if self.running and self.running[0][0] <= self.world.now:
            self.just_completed_at = self.world.now
        super().complete_due()


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, world):
        self.world = world
        self.asyncgen_order = weakref.WeakKeyDictionary()
        self.finalizer_tasks = []
        super().__init__(FakeSelector(world))
        world.loop = self

    def time(self):
        return self.world.now * US

    def run_until_complete(self, future):
        try:
            return super().run_until_complete(future)
        except BaseException:
            if self.world.variant >= 4:
                # Divergence 19a: simrun disarms the stop callback that run_until_complete()
                # leaves in the ready queue when run_forever() is left by an exception.
                self._ready = collections.deque(
                    h for h in self._ready
                    if getattr(h._callback, "__name__", "") != "_run_until_complete_cb")
            raise

    def create_task(self, coro, **kwargs):
        task = super().create_task(coro, **kwargs)
        self.world.created += 1
        task.diff_order = self.world.created
        return task

    def _asyncgen_firstiter_hook(self, agen):
        super()._asyncgen_firstiter_hook(agen)
        self.world.created += 1
        self.asyncgen_order[agen] = self.world.created

    def _asyncgen_finalizer_hook(self, agen):
        self.world.finalized.append(agen)
        if self.world.variant < 2:
            super()._asyncgen_finalizer_hook(agen)
            return
        # CPython's hook, but the close's task is remembered so that shutdown_asyncgens()
        # awaits it (variant 2, simrun's behaviour).
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(
                lambda: self.finalizer_tasks.append(self.create_task(agen.aclose())))

    def run_in_executor(self, executor, func, *args):
        if executor is None and self._default_executor is None and not self._executor_shutdown_called:
            self._default_executor = FakeExecutorWithTies(self.world)
        if executor is not None or self.world.variant < 5:
            return super().run_in_executor(executor, func, *args)
        self._check_closed()
        job = self._default_executor.submit(func, *args)
        awaiting = asyncio.wrap_future(job, loop=self)
        self._default_executor.note_awaiting(job, awaiting)
        return awaiting

    async def shutdown_default_executor(self, timeout=None):
        # CPython's code, with the joining thread replaced by the fake executor's join.
        self._executor_shutdown_called = True
        if self._default_executor is None:
            return
        future = self.create_future()

        def joined():
            if not self.is_closed():
                self.call_soon_threadsafe(asyncio.futures._set_result_unless_cancelled,
                                          future, None)

        self._default_executor.join_async(joined)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            self.world.event("warning executor-join-timeout")
            self._default_executor.shutdown(wait=False)

    async def shutdown_asyncgens(self):
        # CPython 3.13's code; variant >= 1 closes in first-iteration order instead of the
        # WeakSet's, variant >= 2 first awaits the closes the finalizer hook started.
        if self.world.variant >= 2:
            pending = [t for t in self.finalizer_tasks if not t.done()]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing_agens = list(self._asyncgens)
        if self.world.variant >= 1:
            closing_agens.sort(key=lambda agen: self.asyncgen_order.get(agen, 0))
        self._asyncgens.clear()
        results = await asyncio.gather(*[ag.aclose() for ag in closing_agens],
                                       return_exceptions=True)
        for result, agen in zip(results, closing_agens):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous generator "
                               f"{agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })


def _cancel_all_tasks(loop):
    # CPython 3.13's code; variant >= 1 cancels in creation order (simrun's all_tasks(),
    # divergence 8) instead of the set's order.
    to_cancel = asyncio.all_tasks(loop)
    if not to_cancel:
        return
    if loop.world.variant >= 1:
        to_cancel = sorted(to_cancel, key=lambda task: getattr(task, "diff_order", 0))
    for task in to_cancel:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*to_cancel, return_exceptions=True))
    for task in to_cancel:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": task.exception(),
                "task": task,
            })


asyncio.runners._cancel_all_tasks = _cancel_all_tasks


# The world whose deferred SIGINTs (variant 3) are delivered after each callback.
CURRENT_WORLD = None
_original_handle_run = asyncio.events.Handle._run


def _handle_run(handle):
    _original_handle_run(handle)
    world = CURRENT_WORLD
    if world is not None and world.deferred:
        world.deliver_deferred()


asyncio.events.Handle._run = _handle_run
