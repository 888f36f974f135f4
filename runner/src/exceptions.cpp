#include "simrun/exceptions.hpp"

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
    } catch (const OSError& e) {
        return std::string("OSError: ") + e.what();
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

std::string SourceLocation::short_text() const {
    const char* slash = std::strrchr(file, '/');
    std::string text = slash != nullptr ? slash + 1 : file;
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
