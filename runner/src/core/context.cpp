#include "simrun/core/context.hpp"

namespace simrun {
namespace detail {
namespace {

ContextData& thread_base_context() {
    thread_local ContextData base{nullptr, true};
    return base;
}

thread_local ContextData* current_context = nullptr;

}  // namespace

ContextData& current_context_data() {
    if (current_context == nullptr)
        current_context = &thread_base_context();
    return *current_context;
}

ContextScope::ContextScope(ContextData& data)
    : previous_(&current_context_data()), entered_(&data) {
    if (data.entered) {
        throw RuntimeError("cannot enter context: the context is already entered");
    }
    data.entered = true;
    current_context = &data;
}

ContextScope::~ContextScope() {
    entered_->entered = false;
    current_context = previous_;
}

std::uint64_t next_context_var_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail

Context::Context()
    : data_(std::make_shared<detail::ContextData>(detail::ContextData{nullptr, false})) {}

Context Context::copy() const {
    return holding(data_->vars);
}

Context copy_context() {
    return Context::holding(detail::current_context_data().vars);
}

}  // namespace simrun
