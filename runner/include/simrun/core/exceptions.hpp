#pragma once
// The exception hierarchy. As in Python, cancellation and interruption are not errors: they derive
// from BaseException, which is deliberately NOT a std::exception, so `catch (const
// std::exception&)` never swallows them. Ordinary errors derive from the standard exception types.

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace simrun {

/// Root of the control-flow exceptions (CancelledError, KeyboardInterrupt, SystemExit,
/// GeneratorExit). Not derived from std::exception on purpose.
class BaseException {
  public:
    explicit BaseException(std::string message = {}) : message_(std::move(message)) {}
    virtual ~BaseException() = default;
    BaseException(const BaseException&) = default;
    BaseException& operator=(const BaseException&) = default;
    BaseException(BaseException&&) noexcept = default;
    BaseException& operator=(BaseException&&) noexcept = default;

    /// The message given at construction (may be empty).
    const char* what() const noexcept { return message_.c_str(); }
    /// The Python-style class name, e.g. "CancelledError".
    virtual const char* type_name() const noexcept { return "BaseException"; }

  private:
    std::string message_;
};

/// Thrown into a task at its suspension point when it is cancelled; carries the cancel message.
class CancelledError : public BaseException {
  public:
    using BaseException::BaseException;
    const char* type_name() const noexcept override { return "CancelledError"; }
};

/// What `run()` throws after Ctrl-C (see docs/semantics.md, "SIGINT").
class KeyboardInterrupt : public BaseException {
  public:
    using BaseException::BaseException;
    const char* type_name() const noexcept override { return "KeyboardInterrupt"; }
};

/// A request to end the program with an exit code; escapes the loop like KeyboardInterrupt.
class SystemExit : public BaseException {
  public:
    explicit SystemExit(int code = 0)
        : BaseException("exit code " + std::to_string(code)), code_(code) {}
    const char* type_name() const noexcept override { return "SystemExit"; }
    int code() const noexcept { return code_; }

  private:
    int code_;
};

/// Thrown into an async generator at its `co_yield` by `aclose()`.
class GeneratorExit : public BaseException {
  public:
    using BaseException::BaseException;
    const char* type_name() const noexcept override { return "GeneratorExit"; }
};

/// The process would have been ended by a signal's default action (the simulator's stand-in for
/// being killed by SIGINT: see SignalHandlerOptions::escalate_after). Escapes the loop.
class ProcessTerminated : public BaseException {
  public:
    explicit ProcessTerminated(int signum, std::string message)
        : BaseException(std::move(message)), signum_(signum) {}
    const char* type_name() const noexcept override { return "ProcessTerminated"; }
    int signal_number() const noexcept { return signum_; }

  private:
    int signum_;
};

/// Misuse of the API at run time (Python's RuntimeError), e.g. "Runner is closed".
class RuntimeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// A bad argument value (Python's ValueError).
class ValueError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

/// An operation not allowed in the object's current state, e.g. result() of a pending future.
class InvalidStateError : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

/// A deadline passed (timeout(), wait_for()).
class TimeoutError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Several errors at once, as Python's ExceptionGroup (TaskGroup raises it).
class ExceptionGroup : public std::runtime_error {
  public:
    ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions)
        : std::runtime_error(message), exceptions_(std::move(exceptions)) {}
    /// The errors, in the order they happened.
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

  private:
    std::vector<std::exception_ptr> exceptions_;
};

/// Queue::get_nowait() on an empty queue (asyncio.QueueEmpty). Carries no message, as in asyncio.
class QueueEmpty : public std::runtime_error {
  public:
    QueueEmpty() : std::runtime_error("") {}
};

/// Queue::put_nowait() on a full queue (asyncio.QueueFull). Carries no message.
class QueueFull : public std::runtime_error {
  public:
    QueueFull() : std::runtime_error("") {}
};

/// A put on a shut-down queue, or a get on a shut-down queue with nothing left
/// (asyncio.QueueShutDown, new in Python 3.13). Carries no message.
class QueueShutDown : public std::runtime_error {
  public:
    QueueShutDown() : std::runtime_error("") {}
};

/// Barrier::wait() on a broken or reset barrier (asyncio.BrokenBarrierError, a RuntimeError).
class BrokenBarrierError : public RuntimeError {
  public:
    using RuntimeError::RuntimeError;
};

/// A missing key, e.g. ContextVar::get() with no value and no default.
class LookupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// A system call failed (Python's OSError), e.g. a refused connection in sock_connect(). code()
/// holds the errno value (std::errc comparisons work); what() says which operation failed.
class OSError : public std::system_error {
  public:
    OSError(int error_number, const std::string& operation)
        : std::system_error(error_number, std::generic_category(), operation) {}
    /// The errno value.
    int error_number() const noexcept { return code().value(); }
};

/// A connection failed or broke (Python's ConnectionError and its subclasses below). Thrown
/// by streams and sockets through make_os_error(), which picks the subclass from the errno
/// value as Python does, so `catch (const ConnectionResetError&)` works.
class ConnectionError : public OSError {
  public:
    using OSError::OSError;
};
/// EPIPE, ESHUTDOWN: writing to a connection whose peer is gone.
class BrokenPipeError : public ConnectionError {
  public:
    using ConnectionError::ConnectionError;
};
/// ECONNABORTED.
class ConnectionAbortedError : public ConnectionError {
  public:
    using ConnectionError::ConnectionError;
};
/// ECONNREFUSED: nobody listens at the address.
class ConnectionRefusedError : public ConnectionError {
  public:
    using ConnectionError::ConnectionError;
};
/// ECONNRESET: the peer reset the connection (or "Connection lost").
class ConnectionResetError : public ConnectionError {
  public:
    using ConnectionError::ConnectionError;
};

/// The exception Python raises for `error_number`: one of the ConnectionError subclasses
/// above, or a plain OSError.
/// `what` says which operation failed ("Connect call failed ('127.0.0.1', 8080)").
std::exception_ptr make_os_error(int error_number, const std::string& what);
/// Throws make_os_error(error_number, what).
[[noreturn]] void raise_os_error(int error_number, const std::string& what);

/// readexactly() or readuntil() met the end of the stream first (Python's IncompleteReadError,
/// an EOFError). `partial()` holds the bytes read; `expected()` the size asked for (none for
/// readuntil). Message as Python's: "3 bytes read on a total of 5 expected bytes" ("undefined"
/// when nothing was expected).
class IncompleteReadError : public std::runtime_error {
  public:
    IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
    const std::string& partial() const noexcept { return partial_; }
    std::optional<std::size_t> expected() const noexcept { return expected_; }

  private:
    std::string partial_;
    std::optional<std::size_t> expected_;
};

/// readuntil() found no separator within the reader's limit (Python's LimitOverrunError).
/// `consumed()` is how many bytes to consume to get past the data looked at.
class LimitOverrunError : public std::runtime_error {
  public:
    LimitOverrunError(const std::string& message, std::size_t consumed)
        : std::runtime_error(message), consumed_(consumed) {}
    std::size_t consumed() const noexcept { return consumed_; }

  private:
    std::size_t consumed_;
};

/// True if `error` holds an exception that ends the loop at once (KeyboardInterrupt, SystemExit
/// and the simulator's ProcessTerminated): these propagate out of run_forever().
bool escapes_loop(const std::exception_ptr& error) noexcept;

/// True if `error` holds a BaseException (CancelledError, KeyboardInterrupt, ...) rather than an
/// ordinary error (Python's "not an Exception").
bool is_base_exception(const std::exception_ptr& error) noexcept;

/// True if `error` holds a CancelledError.
bool is_cancellation(const std::exception_ptr& error) noexcept;
/// The CancelledError `error` holds (alive as long as `error`), or null.
const CancelledError* as_cancellation(const std::exception_ptr& error) noexcept;

/// "TypeName: message" for any exception, for logs and reports.
std::string describe_exception(const std::exception_ptr& error);

}  // namespace simrun
