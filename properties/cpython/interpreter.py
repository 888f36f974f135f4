"""The interpreter of the campaign's programs on CPython: properties/program.cpp, construct by
construct, in asyncio (run on virtual_asyncio's loop)."""

import asyncio
import collections
import gc
import signal

import virtual_asyncio
from virtual_asyncio import US, Deadlock, VirtualLoop, World


def error_name(exc):
    if isinstance(exc, RuntimeError):
        return f"RuntimeError: {exc}"
    return type(exc).__name__


def job():
    return 1


def hang():
    return 1


class Env:
    def __init__(self, world):
        self.world = world
        self.program = world.program
        self.next_generator = 0
        self.spawned = collections.Counter()

    def task_name(self, index):
        self.spawned[index] += 1
        name = f"t{index}"
        if self.spawned[index] > 1:
            name += f".{self.spawned[index]}"
        return name


def who(index):
    return "main" if index == 0 else asyncio.current_task().get_name()


def stop_if_cancelling():
    if asyncio.current_task().cancelling() > 0:
        raise asyncio.CancelledError("stopping: cancellation requested")


async def numbers(env, gid, count, pause):
    ev = env.world.event
    ev(f"gen {gid} start")
    error = None
    try:
        for i in range(count):
            yield i
            await asyncio.sleep(pause * US)
    except GeneratorExit:
        pass
    except BaseException as e:  # noqa: B036 (as the C++ catch (...))
        error = e
    ev(f"gen {gid} cleanup")
    if error is None:
        try:
            await asyncio.sleep(0.001)
        except BaseException:
            ev(f"gen {gid} cleanup interrupted")
            raise
    ev(f"gen {gid} cleanup done")
    if error is not None:
        raise error


async def run_step(env, step, me, children, held):
    kind, duration, inner, target, target2, count, hangs = step
    ev = env.world.event
    size = len(env.program.tasks)
    if kind == "sleep":
        await asyncio.sleep(duration * US)
        ev(f"{who(me)} sleep done")
    elif kind == "yield":
        await asyncio.sleep(0)
        ev(f"{who(me)} yield done")
    elif kind == "busy":
        env.world.busy(duration)
        ev(f"{who(me)} busy done")
    elif kind == "spawn":
        if me < target < size:
            children.append(asyncio.create_task(run_task(env, target),
                                                name=env.task_name(target)))
            ev(f"{who(me)} spawn {children[-1].get_name()}")
    elif kind == "await_child":
        if target < len(children):
            child = children[target]
            try:
                got = f"value {await child}"
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling() > 0:
                    raise
                got = "CancelledError"
            except Exception as e:
                got = error_name(e)
            ev(f"{who(me)} await {child.get_name()} -> {got}")
            stop_if_cancelling()
    elif kind == "gather":
        outcomes = await asyncio.gather(*children, return_exceptions=True)
        got = ", ".join(error_name(o) if isinstance(o, BaseException) else str(o)
                        for o in outcomes)
        ev(f"{who(me)} gather -> [{got}]")
        stop_if_cancelling()
    elif kind == "cancel_child":
        if target < len(children):
            child = children[target]
            ev(f"{who(me)} cancel {child.get_name()} -> {child.cancel()}")
    elif kind == "raise":
        raise ValueError("step raised")
    elif kind == "executor":
        await asyncio.get_running_loop().run_in_executor(None, hang if hangs else job)
        ev(f"{who(me)} executor done")
    elif kind == "generator":
        gid = env.next_generator
        env.next_generator += 1
        generator = numbers(env, gid, count, duration)
        seen = 0
        while True:
            try:
                await generator.__anext__()
            except StopAsyncIteration:
                break
            seen += 1
            if seen * 2 > count + 1:
                break
        if target == 1:
            await generator.aclose()
            ev(f"{who(me)} aclose done")
        if target == 2:
            held.append(generator)
        del generator  # target 0: dropped here; the loop's finalizer hook closes it
    elif kind == "timeout":
        got = "completed"
        try:
            async with asyncio.timeout(duration * US):
                await asyncio.sleep(inner * US)
        except TimeoutError:
            got = "timed out"
        ev(f"{who(me)} timeout -> {got}")
    elif kind == "group":
        failed = False
        try:
            async with asyncio.TaskGroup() as group:
                for t in (target, target2):
                    if 0 < t < size:
                        group.create_task(run_task(env, t), name=env.task_name(t))
        except ExceptionGroup:
            failed = True
        ev(f"{who(me)} group -> " + ("ExceptionGroup" if failed else "done"))
        stop_if_cancelling()


async def task_body(env, index):
    on_cancel, cleanup, result, raise_at_end, steps = env.program.tasks[index]
    children = []
    held = []
    env.world.event(f"{who(index)} start")
    try:
        try:
            for step in steps:
                await run_step(env, step, index, children, held)
            if raise_at_end:
                raise ValueError("task raised at its end")
            return result
        except asyncio.CancelledError as e:
            cancelled = e
        env.world.event(f"{who(index)} caught CancelledError")
        if on_cancel == "swallow_and_return":
            return result
        if on_cancel == "raise_error":
            raise ValueError("cancelled, raising instead")
        if on_cancel == "uncancel_and_reraise":
            asyncio.current_task().uncancel()
        if on_cancel == "cleanup_then_reraise":
            await asyncio.sleep(cleanup * US)
        raise cancelled
    finally:
        # C++ destroys the task's locals (held generators, then children) when its frame ends,
        # each vector from its first element to its last (list.clear() would go backwards).
        while held:
            held.pop(0)
        while children:
            children.pop(0)


async def run_task(env, index):
    try:
        value = await task_body(env, index)
    except asyncio.CancelledError:
        env.world.event(f"{who(index)} raises CancelledError")
        raise
    except Exception as e:
        env.world.event(f"{who(index)} raises {error_name(e)}")
        raise
    env.world.event(f"{who(index)} returns {value}")
    return value


async def cancel_main_at(env, main, when):
    await asyncio.sleep(when * US - asyncio.get_running_loop().time())
    env.world.event(f"canceller cancels main -> {main.cancel()}")


async def main_task(env):
    if env.program.ext is not None:
        asyncio.create_task(cancel_main_at(env, asyncio.current_task(), env.program.ext),
                            name="canceller")
    return await run_task(env, 0)


def run_cpython(program, variant=0):
    world = World(program, variant)
    virtual_asyncio.CURRENT_WORLD = world
    env = Env(world)

    def handler(loop, context):
        message = context.get("message", "")
        if "was destroyed but it is pending" in message:
            world.event("report destroyed-pending " + context["task"].get_name())
        elif "exception was never retrieved" in message:
            world.event("report never-retrieved " + context["future"].get_name())
        elif message == "unhandled exception during asyncio.run() shutdown":
            world.event("report shutdown " + context["task"].get_name())
        else:
            world.event("report other " + message)

    def factory():
        loop = VirtualLoop(world)
        loop.set_exception_handler(handler)
        return loop

    outcome = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            value = runner.run(main_task(env))
        outcome = f"outcome value {value}"
    except KeyboardInterrupt:
        outcome = "outcome KeyboardInterrupt"
    except asyncio.CancelledError:
        outcome = "outcome CancelledError"
    except ValueError:
        outcome = "outcome ValueError"
    except Deadlock:
        outcome = "outcome DeadlockError"
    except BaseException as e:  # noqa: B036
        outcome = f"outcome other {type(e).__name__}: {e}"
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.collect()  # reports of tasks and futures that only the garbage collector frees
    world.event(outcome)
    return world
