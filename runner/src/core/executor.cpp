#include "simrun/core/executor.hpp"

#include <algorithm>
#include <utility>

namespace simrun {

std::size_t default_worker_count(std::size_t cpu_count) noexcept {
    // Python: min(32, (os.process_cpu_count() or 1) + 4).
    return std::min<std::size_t>(std::max<std::size_t>(cpu_count, 1), 28) + 4;  // no overflow
}

bool JobControl::cancel() {
    std::function<void()> withdraw;
    {
        std::lock_guard lock(mutex_);
        if (phase_ != Phase::queued)
            return false;
        phase_ = Phase::cancelled;
        withdraw.swap(withdraw_);
    }
    // Outside the lock: the hook takes the executor's lock, which an executor may hold while it
    // calls start().
    if (withdraw)
        withdraw();
    return true;
}

bool JobControl::start() {
    std::function<void()> withdraw;
    {
        std::lock_guard lock(mutex_);
        if (phase_ == Phase::cancelled)
            return false;
        phase_ = Phase::started;
        withdraw.swap(withdraw_);  // never needed again
    }
    return true;
}

bool JobControl::cancelled() const {
    std::lock_guard lock(mutex_);
    return phase_ == Phase::cancelled;
}

bool JobControl::started() const {
    std::lock_guard lock(mutex_);
    return phase_ == Phase::started;
}

void JobControl::on_cancel(std::function<void()> withdraw) {
    {
        std::lock_guard lock(mutex_);
        if (phase_ == Phase::queued) {
            withdraw_.swap(withdraw);  // the old hook dies outside the lock
            return;
        }
        if (phase_ == Phase::started)
            return;  // a started job cannot be withdrawn
    }
    if (withdraw)
        withdraw();
}

}  // namespace simrun
