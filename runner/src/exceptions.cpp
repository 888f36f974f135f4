#include "simrun/exceptions.hpp"

#include <cerrno>
#include <cstring>
#include <exception>

#include "simrun/source_location.hpp"

namespace simrun {

bool escapes_loop(const std::exception_ptr& error) noexcept {
    if (!error)
        return false;
    try {
        std::rethrow_exception(error);
    } catch (const KeyboardInterrupt&) {
        return true;
    } catch (const SystemExit&) {
        return true;
    } catch (const ProcessTerminated&) {
        return true;
    } catch (...) {
        return false;
    }
}

bool is_cancellation(const std::exception_ptr& error) noexcept {
    if (!error)
        return false;
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError&) {
        return true;
    } catch (...) {
        return false;
    }
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
    if (!error)
        return false;
    try {
        std::rethrow_exception(error);
    } catch (const BaseException&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace simrun
