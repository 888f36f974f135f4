// Properties of the Runner's SIGINT handling over random programs (program.hpp): as CPython
// 3.13's asyncio.Runner, run() installs its handler only on the main thread and only over the
// default disposition, and afterwards puts the default back only if its own handler is still
// the one installed; a run that installs nothing (off the main thread, or SIGINT already
// handled or ignored by other code) works exactly as without SIGINTs.
#include <string>

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include "generators.hpp"

using namespace props;
using simrun::SignalDisposition;

namespace {

const char* disposition_name(std::optional<SignalDisposition> disposition) {
    if (!disposition)
        return "unknown";
    switch (*disposition) {
        case SignalDisposition::default_action:
            return "default";
        case SignalDisposition::ignored:
            return "ignored";
        case SignalDisposition::handler:
            return "handler";
    }
    return "?";
}

/// Where the Runner must take SIGINT over: the main thread, the default disposition.
bool runner_installs(const Program& program) {
    return program.main_thread && program.sigint_before == SignalDisposition::default_action;
}

rc::Gen<Program> programs_with_sigint_settings() {
    return rc::gen::exec([] {
        Program program = *programs();
        program.main_thread = *rc::gen::weightedElement<bool>({{1, false}, {2, true}});
        program.sigint_before =
            *rc::gen::weightedElement<SignalDisposition>({{2, SignalDisposition::default_action},
                                                          {1, SignalDisposition::ignored},
                                                          {1, SignalDisposition::handler}});
        program.user_sigint_handler = *rc::gen::weightedElement<bool>({{3, false}, {1, true}});
        return program;
    });
}

}  // namespace

TEST_CASE(
    "property: run() installs its SIGINT handler only on the main thread over the default "
    "disposition, and restores the default only if its handler is still installed") {
    CHECK(rc::check("SIGINT disposition", [] {
        Program program = *programs_with_sigint_settings();
        // Off the main thread a SIGINT would end the process (its default action): not the
        // point here, the next property runs those programs.
        if (!program.main_thread && program.sigint_before == SignalDisposition::default_action) {
            program.sigints.clear();
            program.sigint_steps.clear();
        }
        const Observation observed = execute(program);
        const bool installs = runner_installs(program);
        RC_LOG() << "main task saw " << disposition_name(observed.sigint_in_run) << ", after run "
                 << disposition_name(observed.sigint_after) << ", handlers installed "
                 << observed.sigint_installs << ", outcome " << outcome_name(observed.outcome)
                 << "\n";
        RC_CLASSIFY(!program.main_thread, "off the main thread");
        RC_CLASSIFY(program.sigint_before == SignalDisposition::ignored, "SIGINT ignored before");
        RC_CLASSIFY(program.sigint_before == SignalDisposition::handler, "other handler before");
        RC_CLASSIFY(program.user_sigint_handler, "main installs its own handler");
        RC_CLASSIFY(installs, "runner installs");
        RC_CLASSIFY(!program.sigints.empty(), "SIGINTs sent");
        const auto name = [](std::optional<SignalDisposition> d) {
            return std::string(disposition_name(d));
        };
        RC_ASSERT(name(observed.sigint_in_run) ==
                  name(installs ? SignalDisposition::handler : program.sigint_before));
        if (!installs)
            RC_ASSERT(observed.sigint_installs == 0);
        else
            RC_ASSERT(observed.sigint_installs >= 1);
        if (observed.outcome == Observation::Outcome::process_terminated)
            return;  // the process ended: nothing restores anything
        if (program.user_sigint_handler)
            RC_ASSERT(name(observed.sigint_after) == name(SignalDisposition::handler));  // user's
        else
            RC_ASSERT(name(observed.sigint_after) == name(program.sigint_before));
    }));
}

TEST_CASE(
    "property: a run that installs no SIGINT handler (off the main thread, or SIGINT handled or "
    "ignored by other code) does exactly what it does on the main thread without SIGINTs") {
    CHECK(rc::check("runs without the handler", [] {
        Program program = *programs_with_sigint_settings();
        program.user_sigint_handler = false;
        if (runner_installs(program))
            program.main_thread = false;
        if (program.sigint_before == SignalDisposition::default_action) {
            // Off the main thread, with the default disposition, a SIGINT ends the process.
            program.sigints.clear();
            program.sigint_steps.clear();
        }
        program.record_events = true;
        Program reference = program;
        reference.main_thread = true;
        reference.sigint_before = SignalDisposition::default_action;
        reference.sigints.clear();
        reference.sigint_steps.clear();
        const Observation observed = execute(program);
        const Observation expected = execute(reference);
        RC_LOG() << "outcome " << outcome_name(observed.outcome) << " at "
                 << simrun::sim::format_time(observed.end_time) << ", without SIGINTs on the main "
                 << "thread " << outcome_name(expected.outcome) << " at "
                 << simrun::sim::format_time(expected.end_time) << "\n";
        RC_CLASSIFY(!program.main_thread, "off the main thread");
        RC_CLASSIFY(program.sigint_before != SignalDisposition::default_action,
                    "SIGINT handled or ignored before");
        RC_CLASSIFY(!program.sigints.empty(), "SIGINTs sent");
        RC_ASSERT(observed.sigint_installs == 0);
        RC_ASSERT(observed.outcome == expected.outcome);
        RC_ASSERT(observed.value == expected.value);
        RC_ASSERT(observed.end_time == expected.end_time);
        RC_ASSERT(observed.frames_after == 0);
        RC_ASSERT(observed.loop_closed);
        if (observed.events != expected.events) {
            std::size_t i = 0;
            while (i < observed.events.size() && i < expected.events.size() &&
                   observed.events[i] == expected.events[i])
                ++i;
            RC_LOG() << "first difference at event " << i << ": "
                     << (i < observed.events.size() ? observed.events[i].second : "<end>") << " vs "
                     << (i < expected.events.size() ? expected.events[i].second : "<end>") << "\n";
            RC_FAIL("the events differ");
        }
    }));
}
