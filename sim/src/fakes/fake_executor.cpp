#include "simrun/sim/fakes/fake_executor.hpp"

#include <algorithm>

#include "simrun/sim/loop/sim_loop.hpp"

namespace simrun::sim {
namespace {
std::string with_name(const std::string& name) {
    return name.empty() ? std::string() : " " + name;
}
}  // namespace

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
    workers_ =
        options_.workers ? *options_.workers : default_worker_count(loop.options().cpu_count);
    if (workers_ == 0)
        throw ValueError("FakeExecutorOptions::workers must be at least 1");
    if (!options_.cost)
        options_.cost = fixed_cost(std::chrono::milliseconds(1));
}

FakeExecutor::~FakeExecutor() {
    discard();
}

void FakeExecutor::submit(ExecutorJob job) {
    if (shutdown_)
        throw RuntimeError("cannot schedule new futures after shutdown");
    const std::uint64_t index = submitted_++;
    loop_.note("executor", "submit #" + std::to_string(index) + with_name(job.name));
    std::shared_ptr<JobControl> control = job.control;
    queue_.push_back(std::move(job));
    queued_index_.push_back(index);
    start_queued();
    // Still queued (every worker busy): a cancellation takes it out of the queue at once. The
    // hook is dropped when the job starts, and discard() drops the hooks of the jobs left.
    if (control && !control->started())
        control->on_cancel([this, index] { withdraw(index); });
}

void FakeExecutor::withdraw(std::uint64_t index) {
    auto found = std::find(queued_index_.begin(), queued_index_.end(), index);
    if (found == queued_index_.end())
        return;
    auto position = found - queued_index_.begin();
    ExecutorJob job = std::move(queue_[static_cast<std::size_t>(position)]);
    queue_.erase(queue_.begin() + position);
    queued_index_.erase(found);
    loop_.note("executor", "cancelled #" + std::to_string(index) + with_name(job.name));
}

void FakeExecutor::start_queued() {
    while (running_.size() + hung_ < workers_ && !queue_.empty()) {
        ExecutorJob job = std::move(queue_.front());
        std::uint64_t index = queued_index_.front();
        queue_.pop_front();
        queued_index_.pop_front();
        if (job.control && !job.control->start())
            continue;  // cancelled: never runs (withdraw() normally took it out already)
        // The duration given at submission wins; the cost model is then not asked (no choice).
        std::optional<Duration> cost =
            job.sim_duration ? job.sim_duration
                             : options_.cost(JobInfo{index, job.name}, loop_.choices());
        std::optional<Duration> finishes_at;
        if (cost)
            finishes_at = saturating_add(loop_.time(), std::max(*cost, Duration::zero()));
        if (!finishes_at || *finishes_at == Duration::max()) {  // max: never, as for timers
            ++hung_;
            loop_.note("executor", "job #" + std::to_string(index) + " never finishes");
            continue;
        }
        std::uint64_t tie_break = (loop_.choices().choose(1U << 20) << 32) | index;
        running_.emplace(std::make_pair(*finishes_at, tie_break), std::move(job));
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
        const std::uint64_t index = node.key().second & 0xffffffffU;
        loop_.note("executor", "done #" + std::to_string(index) + with_name(node.mapped().name));
        node.mapped().work();
        start_queued();
        if (job_observer_) {
            JobObserver observer = job_observer_;  // it may replace itself
            observer(JobInfo{index, node.mapped().name}, now);
        }
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
    // The controls may outlive this executor (futures hold them): their hooks must not call it.
    for (ExecutorJob& job : queue_) {
        if (job.control)
            job.control->on_cancel({});
    }
    queue_.clear();
    queued_index_.clear();
    running_.clear();
    on_joined_.clear();
}

}  // namespace simrun::sim
