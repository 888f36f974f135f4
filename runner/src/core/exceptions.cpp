#include "simrun/core/exceptions.hpp"

#include <cerrno>
#include <cstring>
#include <exception>
#include <typeinfo>
#include <vector>

#include "simrun/core/source_location.hpp"

namespace simrun {

namespace {

/// The `Base` inside the exception `error` holds, or null if it holds none. Asking by
/// rethrowing costs a full C++ throw (about a microsecond) and the loop asks on every task that
/// ends with an error or a cancellation; so, with libstdc++, the answer is kept per thrown type
/// (its type_info, which libstdc++ reports without a throw), with the offset of `Base` inside
/// it: the first exception of each type is rethrown once, the next ones are not.
template <class Base>
const Base* exception_as(const std::exception_ptr& error) noexcept {
    if (!error)
        return nullptr;
#if defined(__GLIBCXX__) && defined(__cpp_rtti)
    // libstdc++'s exception_ptr is the address of the thrown object.
    static_assert(sizeof(std::exception_ptr) == sizeof(void*));
    void* object = nullptr;
    std::memcpy(&object, static_cast<const void*>(&error), sizeof object);
    const std::type_info* type = error.__cxa_exception_type();
    struct Known {
        const std::type_info* type;
        std::ptrdiff_t offset;  // of Base in the object; -1: not a Base
    };
    thread_local std::vector<Known> known;
    for (const Known& entry : known) {
        if (entry.type == type) {
            return entry.offset < 0
                       ? nullptr
                       : reinterpret_cast<const Base*>(static_cast<char*>(object) + entry.offset);
        }
    }
    const Base* found = nullptr;
    try {
        std::rethrow_exception(error);
    } catch (const Base& base) {
        found = &base;  // the same object: rethrow_exception does not copy it
    } catch (...) {
    }
    try {
        known.push_back(Known{type, found == nullptr ? -1
                                                     : reinterpret_cast<const char*>(found) -
                                                           static_cast<const char*>(object)});
    } catch (...) {  // out of memory: ask again next time
    }
    return found;
#else
    try {
        std::rethrow_exception(error);
    } catch (const Base& base) {
        return &base;  // the object lives as long as `error`
    } catch (...) {
        return nullptr;
    }
#endif
}

}  // namespace

bool escapes_loop(const std::exception_ptr& error) noexcept {
    return exception_as<KeyboardInterrupt>(error) != nullptr ||
           exception_as<SystemExit>(error) != nullptr ||
           exception_as<ProcessTerminated>(error) != nullptr;
}

bool is_cancellation(const std::exception_ptr& error) noexcept {
    return exception_as<CancelledError>(error) != nullptr;
}

const CancelledError* as_cancellation(const std::exception_ptr& error) noexcept {
    return exception_as<CancelledError>(error);
}

std::string describe_exception(const std::exception_ptr& error) {
    if (!error)
        return "None";
    try {
        std::rethrow_exception(error);
    } catch (const BaseException& e) {
        std::string text = e.type_name();
        if (*e.what() != '\0')
            text += std::string(": ") + e.what();
        return text;
    } catch (const QueueEmpty&) {
        return "QueueEmpty";
    } catch (const QueueFull&) {
        return "QueueFull";
    } catch (const QueueShutDown&) {
        return "QueueShutDown";
    } catch (const BrokenBarrierError& e) {
        return std::string("BrokenBarrierError: ") + e.what();
    } catch (const TimeoutError& e) {
        return std::string("TimeoutError: ") + e.what();
    } catch (const BrokenPipeError& e) {
        return std::string("BrokenPipeError: ") + e.what();
    } catch (const ConnectionAbortedError& e) {
        return std::string("ConnectionAbortedError: ") + e.what();
    } catch (const ConnectionRefusedError& e) {
        return std::string("ConnectionRefusedError: ") + e.what();
    } catch (const ConnectionResetError& e) {
        return std::string("ConnectionResetError: ") + e.what();
    } catch (const OSError& e) {
        return std::string("OSError: ") + e.what();
    } catch (const IncompleteReadError& e) {
        return std::string("IncompleteReadError: ") + e.what();
    } catch (const LimitOverrunError& e) {
        return std::string("LimitOverrunError: ") + e.what();
    } catch (const ValueError& e) {
        return std::string("ValueError: ") + e.what();
    } catch (const RuntimeError& e) {
        return std::string("RuntimeError: ") + e.what();
    } catch (const InvalidStateError& e) {
        return std::string("InvalidStateError: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("std::exception: ") + e.what();
    } catch (...) {
        return "unknown exception";
    }
}

std::exception_ptr make_os_error(int error_number, const std::string& what) {
    switch (error_number) {
        case EPIPE:
        case ESHUTDOWN:
            return std::make_exception_ptr(BrokenPipeError(error_number, what));
        case ECONNABORTED:
            return std::make_exception_ptr(ConnectionAbortedError(error_number, what));
        case ECONNREFUSED:
            return std::make_exception_ptr(ConnectionRefusedError(error_number, what));
        case ECONNRESET:
            return std::make_exception_ptr(ConnectionResetError(error_number, what));
        default:
            return std::make_exception_ptr(OSError(error_number, what));
    }
}

void raise_os_error(int error_number, const std::string& what) {
    std::rethrow_exception(make_os_error(error_number, what));
}

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
    : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                         (expected ? std::to_string(*expected) : std::string("undefined")) +
                         " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

std::string SourceLocation::short_text() const {
    std::string text(file_name());
    return text + ":" + std::to_string(line);
}

}  // namespace simrun

namespace simrun {

bool is_base_exception(const std::exception_ptr& error) noexcept {
    return exception_as<BaseException>(error) != nullptr;
}

}  // namespace simrun
