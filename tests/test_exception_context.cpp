// ExceptionContext: the "never retrieved" reports carry a snapshot of the future or task
// (ExceptionContext::future, asyncio's context['future']), the "destroyed but pending" report
// the live task (context['task']); the default handler prints them as asyncio does.
#include <memory>
#include <set>
#include <string>

#include "support.hpp"

using namespace simrun;
using test_support::contains;

namespace {

ContextVar<std::string> request("request", "none");

Coro<int> fail_soon(std::string message) {
    co_await sleep(1ms);
    throw ValueError(message);
}

Coro<int> fail_in_request(std::string id) {
    request.set(id);
    co_await sleep(1ms);
    throw ValueError("lost in " + id);
}

Coro<void> wait_forever() {
    Future<void> never = get_running_loop().create_future<void>();
    co_await never;
}

}  // namespace

LOOP_TEST_CASE(
    "ExceptionContext: a task dropped with its exception unretrieved is reported with a "
    "snapshot of it as 'future'") {
    test_support::TestLoop<LoopKind> s;
    std::weak_ptr<detail::TaskBase> weak;
    {
        Task<int> task = s.loop.create_task(fail_soon("lost"), {.name = "worker"});
        weak = task.state();
        s.loop.run_until_complete(sleep(2ms));
        CHECK(s.errors.contexts.empty());
    }
    CHECK(weak.expired());  // the copy the handler kept holds nothing
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Task exception was never retrieved");
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "future"});
    CHECK_FALSE(context.task);
    REQUIRE(context.future.has_value());
    const FutureSnapshot& future = *context.future;
    CHECK(future.is_task());
    CHECK(future.kind == "Task");
    CHECK(future.name == "worker");
    CHECK(future.state == FutureSnapshot::State::finished);
    CHECK(future.description.find("<Task finished name='worker' coro=<fail_soon()>") == 0);
    CHECK(contains(future.description, "ValueError: lost"));
    CHECK(std::string(future.coroutine.function) == "fail_soon");
    CHECK(contains(future.created_at.short_text(), "test_exception_context.cpp:"));
    CHECK(future.awaiting.empty());
    CHECK(future.context.has_value());
    REQUIRE(future.exception != nullptr);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(future.exception), "lost", ValueError);
    CHECK(future.exception == context.exception);
}

LOOP_TEST_CASE(
    "ExceptionContext: a plain future dropped unretrieved is reported with its snapshot as "
    "'future'") {
    test_support::TestLoop<LoopKind> s;
    {
        Future<int> future = s.loop.template create_future<int>();
        future.set_label("lookup");
        future.set_exception(std::make_exception_ptr(ValueError("k")));
    }
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Future exception was never retrieved");
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "future"});
    REQUIRE(context.future.has_value());
    const FutureSnapshot& future = *context.future;
    CHECK_FALSE(future.is_task());
    CHECK(future.kind == "Future");
    CHECK(future.name.empty());
    CHECK(future.label == "lookup");
    CHECK(future.state == FutureSnapshot::State::finished);
    CHECK(future.description.find("<Future finished lookup exception=") == 0);
    CHECK(future.coroutine.line == 0);
    CHECK_FALSE(future.context.has_value());
    CHECK(contains(future.created_at.short_text(), "test_exception_context.cpp:"));
    CHECK(future.exception == context.exception);
}

LOOP_TEST_CASE(
    "ExceptionContext: the handler of a never-retrieved task's report runs in the task's "
    "context") {
    test_support::TestLoop<LoopKind> s;
    std::string seen;
    s.loop.set_exception_handler(
        [&seen](EventLoop&, const ExceptionContext&) { seen = request.get(); });
    {
        Task<int> task = s.loop.create_task(fail_in_request("req-7"));
        s.loop.run_until_complete(sleep(2ms));
    }
    CHECK(seen == "req-7");
    CHECK(request.get() == "none");  // only the handler ran inside it
}

LOOP_TEST_CASE(
    "ExceptionContext: 'destroyed but pending' carries the live task; snapshot_of() copies one") {
    test_support::TestLoop<LoopKind> s;
    Task<void> stuck = s.loop.create_task(wait_forever(), {.name = "stuck"});
    s.loop.run_until_complete(sleep(1ms));
    FutureSnapshot before = snapshot_of(stuck);
    CHECK(before.kind == "Task");
    CHECK(before.name == "stuck");
    CHECK(before.state == FutureSnapshot::State::pending);
    CHECK(before.exception == nullptr);
    CHECK_FALSE(before.awaiting.empty());
    CHECK(before.description.find("<Task pending name='stuck'") == 0);
    s.loop.close();
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Task was destroyed but it is pending!");
    CHECK(context.keys() == std::set<std::string>{"message", "task"});
    CHECK(context.task == stuck);
    CHECK_FALSE(context.future.has_value());
    CHECK_THROWS_WITH_AS(snapshot_of(TaskRef{}), "snapshot_of() needs a task, got an empty TaskRef",
                         ValueError);
}

LOOP_TEST_CASE(
    "ExceptionContext: the default handler prints a never-retrieved task as asyncio: message, "
    "'future: <Task finished ...>', the exception") {
    test_support::TestLoop<LoopKind> s(false);
    std::string description;
    {
        Task<int> task = s.loop.create_task(fail_soon("boom"), {.name = "Task-2"});
        s.loop.run_until_complete(sleep(2ms));
        description = task.describe();
    }
    REQUIRE(s.log.lines.size() == 1);
    CHECK(s.log.lines[0].first == LogLevel::error);
    CHECK(description.find("<Task finished name='Task-2' coro=<fail_soon()> exception=") == 0);
    CHECK(s.log.lines[0].second ==
          "Task exception was never retrieved\nfuture: " + description + "\nValueError: boom");
}

TEST_CASE("ExceptionContext: a context built by hand with a snapshot lists and prints 'future'" *
          doctest::test_suite("loop-free")) {
    ExceptionContext context;
    context.message = "Future exception was never retrieved";
    context.future = FutureSnapshot{.kind = "Future", .description = "<Future finished>"};
    context.details["zzz"] = "last";
    CHECK(context.keys() == std::set<std::string>{"message", "future", "zzz"});
    CHECK(context.format() ==
          "Future exception was never retrieved\nfuture: <Future finished>\nzzz: last");
}
