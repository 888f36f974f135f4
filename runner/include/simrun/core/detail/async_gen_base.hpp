#pragma once
// What the loop knows about an async generator: enough to close it at shutdown.

#include <string>

namespace simrun {
template <class T>
class Coro;
}

namespace simrun::detail {

class AsyncGenStateBase {
  public:
    virtual ~AsyncGenStateBase() = default;
    /// True once the generator's body has ended (returned, thrown or closed).
    virtual bool finished() const noexcept = 0;
    /// "<async_generator numbers at gen.cpp>" for reports.
    virtual std::string describe() const = 0;
    /// Closes the generator (GeneratorExit at its co_yield); see AsyncGen::aclose.
    virtual Coro<void> close_async() = 0;
};

}  // namespace simrun::detail
