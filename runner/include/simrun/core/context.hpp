#pragma once
// Context variables, as Python's contextvars: a Context maps ContextVars to values; each thread
// has a current Context; every task runs inside its own Context (a copy of its creator's unless
// one is given), so a value set in one task is invisible to the others.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "simrun/core/exceptions.hpp"

namespace simrun {

namespace detail {

using ContextMap = std::map<std::uint64_t, std::shared_ptr<const void>>;

/// The state behind a Context handle. `vars` is immutable and shared between copies; null when
/// no variable is set (the usual case), so that capturing and entering an empty context copies
/// no reference count.
struct ContextData {
    std::shared_ptr<const ContextMap> vars;
    bool entered = false;
};

/// The context the calling thread is in right now (never null).
ContextData& current_context_data();

/// Enters a context for the lifetime of the scope; throws RuntimeError if it is already entered.
class ContextScope {
  public:
    explicit ContextScope(ContextData& data);
    ~ContextScope();
    ContextScope(const ContextScope&) = delete;
    ContextScope& operator=(const ContextScope&) = delete;

  private:
    ContextData* previous_;
    ContextData* entered_;
};

std::uint64_t next_context_var_id() noexcept;

}  // namespace detail

template <class T>
class ContextVar;

/// A mapping of context variables to values. Copying a Context handle refers to the same context
/// (like a Python reference); `copy()` makes an independent context with the same values.
class Context {
  public:
    /// A new, empty context.
    Context();

    /// A new context holding the same values as this one.
    Context copy() const;

    /// Runs `fn` inside this context. Throws RuntimeError if the context is already entered.
    template <class F>
    decltype(auto) run(F&& fn) {
        detail::ContextScope scope(*data_);
        return std::forward<F>(fn)();
    }

    /// The value of `var` in this context, if it has one (defaults are not consulted).
    template <class T>
    std::optional<T> get(const ContextVar<T>& var) const;

    /// Number of variables set in this context.
    std::size_t size() const { return data_->vars ? data_->vars->size() : 0; }

    /// Identity: true if both handles refer to the same context.
    friend bool operator==(const Context& a, const Context& b) { return a.data_ == b.data_; }

    /// The internal state (for the loop and tasks).
    detail::ContextData& data() const { return *data_; }
    /// The shared state (a task created in this context runs in it, not in a copy).
    const std::shared_ptr<detail::ContextData>& shared_data() const noexcept { return data_; }
    /// A new Context holding `vars` (as copy() makes).
    static Context holding(std::shared_ptr<const detail::ContextMap> vars) {
        return Context(
            std::make_shared<detail::ContextData>(detail::ContextData{std::move(vars), false}));
    }
    /// A Context for `data`, which `owner` keeps alive (a task's own context lives inside it).
    static Context sharing(std::shared_ptr<const void> owner, detail::ContextData& data) {
        return Context(std::shared_ptr<detail::ContextData>(std::move(owner), &data));
    }

  private:
    explicit Context(std::shared_ptr<detail::ContextData> data) : data_(std::move(data)) {}
    std::shared_ptr<detail::ContextData> data_;
};

/// A new context with the values of the calling thread's current context.
Context copy_context();

/// A context variable holding values of type T. Create it once (e.g. as a global); it is only a
/// key, the values live in contexts.
template <class T>
class ContextVar {
  public:
    /// Records a set() so that reset() can undo it.
    class Token {
      public:
        /// The variable this token belongs to.
        const ContextVar& var() const { return *var_; }
        /// The value before the set(), if there was one.
        const std::optional<T>& old_value() const { return old_value_; }

      private:
        friend class ContextVar;
        Token(const ContextVar* var, detail::ContextData* context, std::optional<T> old)
            : var_(var), context_(context), old_value_(std::move(old)) {}
        const ContextVar* var_;
        detail::ContextData* context_;
        std::optional<T> old_value_;
        bool used_ = false;
    };

    /// A variable without a default: get() throws LookupError until it is set.
    explicit ContextVar(std::string name)
        : name_(std::move(name)), id_(detail::next_context_var_id()) {}
    /// A variable whose get() returns `default_value` when unset.
    ContextVar(std::string name, T default_value)
        : name_(std::move(name)),
          id_(detail::next_context_var_id()),
          default_(std::move(default_value)) {}

    const std::string& name() const { return name_; }
    std::uint64_t id() const { return id_; }

    /// The value in the current context, else the default; throws LookupError if neither.
    T get() const {
        if (auto value = lookup(detail::current_context_data()))
            return *value;
        if (default_)
            return *default_;
        throw LookupError("ContextVar '" + name_ + "' has no value and no default");
    }

    /// The value in the current context, else `fallback` (the variable's default is ignored).
    T get(T fallback) const {
        if (auto value = lookup(detail::current_context_data()))
            return *value;
        return fallback;
    }

    /// Sets the value in the current context; the token undoes it with reset().
    Token set(T value) {
        detail::ContextData& context = detail::current_context_data();
        std::optional<T> old = lookup(context);
        auto vars = context.vars ? std::make_shared<detail::ContextMap>(*context.vars)
                                 : std::make_shared<detail::ContextMap>();
        (*vars)[id_] = std::make_shared<const T>(std::move(value));
        context.vars = std::move(vars);
        return Token(this, &context, std::move(old));
    }

    /// Restores the value the variable had before `token`'s set(). Throws RuntimeError if the
    /// token was used already, ValueError if it belongs to another variable or context.
    void reset(Token& token) {
        if (token.used_)
            throw RuntimeError("Token has already been used once");
        if (token.var_ != this)
            throw ValueError("Token was created by a different ContextVar");
        detail::ContextData& context = detail::current_context_data();
        if (token.context_ != &context)
            throw ValueError("Token was created in a different Context");
        auto vars = context.vars ? std::make_shared<detail::ContextMap>(*context.vars)
                                 : std::make_shared<detail::ContextMap>();
        if (token.old_value_) {
            (*vars)[id_] = std::make_shared<const T>(*token.old_value_);
        } else {
            vars->erase(id_);
        }
        context.vars = vars->empty() ? nullptr : std::move(vars);
        token.used_ = true;
    }

  private:
    friend class Context;
    std::optional<T> lookup(const detail::ContextData& context) const {
        if (!context.vars)
            return std::nullopt;
        auto found = context.vars->find(id_);
        if (found == context.vars->end())
            return std::nullopt;
        return *static_cast<const T*>(found->second.get());
    }

    std::string name_;
    std::uint64_t id_;
    std::optional<T> default_;
};

template <class T>
std::optional<T> Context::get(const ContextVar<T>& var) const {
    return var.lookup(*data_);
}

}  // namespace simrun
