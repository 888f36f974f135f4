#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <simrun/core/exceptions.hpp>

// CancelledError & co. are not std::exception: tell doctest how to read their message.
REGISTER_EXCEPTION_TRANSLATOR(const simrun::BaseException& error) {
    return doctest::String(error.what());
}
