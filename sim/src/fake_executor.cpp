#include "simrun/sim/fake_executor.hpp"

#include "simrun/sim/sim_loop.hpp"

namespace simrun::sim {

CostModel fixed_cost(Duration duration) {
    return
        [duration](const JobInfo&, ChoiceSource&) -> std::optional<Duration> { return duration; };
}

CostModel random_cost(Duration shortest, Duration longest) {
    if (longest < shortest)
        throw ValueError("random_cost(): longest is shorter than shortest");
    return [shortest, longest](const JobInfo&, ChoiceSource& choices) -> std::optional<Duration> {
        auto span = static_cast<std::uint64_t>((longest - shortest).count()) + 1;
        return shortest + Duration(static_cast<Duration::rep>(choices.choose(span)));
    };
}

CostModel never_finishes_if_named(std::string name, CostModel otherwise) {
    return [name = std::move(name), otherwise = std::move(otherwise)](
               const JobInfo& job, ChoiceSource& choices) -> std::optional<Duration> {
        if (job.name == name)
            return std::nullopt;
        return otherwise(job, choices);
    };
}

FakeExecutor::FakeExecutor(SimLoop& loop, FakeExecutorOptions options)
    : loop_(loop), options_(std::move(options)) {
    if (options_.workers == 0)
        throw ValueError("FakeExecutorOptions::workers must be at least 1");
    if (!options_.cost)
        options_.cost = fixed_cost(std::chrono::milliseconds(1));
}

void FakeExecutor::submit(ExecutorJob job) {
    if (shutdown_)
        throw RuntimeError("cannot schedule new futures after shutdown");
    loop_.note("executor",
               "submit #" + std::to_string(submitted_) + (job.name.empty() ? "" : " " + job.name));
    queue_.push_back(std::move(job));
    queued_index_.push_back(submitted_++);
    start_queued();
}

void FakeExecutor::start_queued() {
    while (running_.size() + hung_ < options_.workers && !queue_.empty()) {
        ExecutorJob job = std::move(queue_.front());
        std::uint64_t index = queued_index_.front();
        queue_.pop_front();
        queued_index_.pop_front();
        std::optional<Duration> cost = options_.cost(JobInfo{index, job.name}, loop_.choices());
        if (!cost) {
            ++hung_;
            loop_.note("executor", "job #" + std::to_string(index) + " never finishes");
            continue;
        }
        std::uint64_t tie_break = (loop_.choices().choose(1U << 20) << 32) | index;
        running_.emplace(std::make_pair(loop_.time() + *cost, tie_break), std::move(job));
    }
}

std::optional<Duration> FakeExecutor::next_completion() const {
    if (running_.empty())
        return std::nullopt;
    return running_.begin()->first.first;
}

void FakeExecutor::complete_due(Duration now) {
    while (!running_.empty() && running_.begin()->first.first <= now) {
        auto node = running_.extract(running_.begin());
        loop_.note("executor", "done #" + std::to_string(node.key().second & 0xffffffffU) +
                                   (node.mapped().name.empty() ? "" : " " + node.mapped().name));
        node.mapped().work();
        start_queued();
    }
    notify_if_joined();
}

void FakeExecutor::shutdown(bool) {
    shutdown_ = true;
}

void FakeExecutor::join_async(std::function<void()> on_joined) {
    shutdown_ = true;
    loop_.note("executor", "join requested");
    on_joined_.push_back(std::move(on_joined));
    notify_if_joined();
}

void FakeExecutor::notify_if_joined() {
    if (!shutdown_ || !queue_.empty() || !running_.empty() || hung_ != 0)
        return;
    auto callbacks = std::move(on_joined_);
    on_joined_.clear();
    for (auto& callback : callbacks)
        callback();
}

void FakeExecutor::discard() noexcept {
    queue_.clear();
    queued_index_.clear();
    running_.clear();
    on_joined_.clear();
}

}  // namespace simrun::sim
