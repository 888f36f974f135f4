#pragma once
// Helpers shared by the stream tests (test_stream_reader.cpp, test_stream_reader_reads.cpp,
// test_open_connection.cpp, test_stream_writer.cpp).

#include <memory>
#include <string>

#include <simrun/simrun.hpp>

namespace streams_test {

/// The three lines the reader tests feed (CPython's test_streams.py DATA).
inline const std::string DATA = "line1\nline2\nline3\n";

/// Closes `server` and waits until it is closed.
inline simrun::Coro<void> stop(std::shared_ptr<simrun::Server> server) {
    server->close();
    co_await server->wait_closed();
}

}  // namespace streams_test
