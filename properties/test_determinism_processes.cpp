// Determinism across processes: the same programs run in a child process (this binary, started
// again with --print-digests) give the same trace digests as in this process.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include "generators.hpp"

namespace props {

/// Digests of `count` programs drawn from a fixed seed, one per line.
std::string digests_of_fixed_programs(int count) {
    std::ostringstream out;
    for (int i = 0; i < count; ++i) {
        const Program program =
            programs()(rc::Random(static_cast<std::uint64_t>(1000 + i)), 50).value();
        out << execute(program).digest << "\n";
    }
    return out.str();
}

}  // namespace props

TEST_CASE("property: the same programs give the same trace digests in two processes") {
    constexpr int count = 40;
    const std::string here = props::digests_of_fixed_programs(count);
    std::string there;
    {
        std::array<char, 4096> self{};
        const ssize_t length = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
        REQUIRE(length > 0);
        // Appended piece by piece: "'" + std::string(...) trips a g++ 12 -O3 false
        // -Wstringop-overflow.
        std::string command = "'";
        command.append(self.data(), static_cast<std::size_t>(length));
        command.append("' --print-digests ").append(std::to_string(count));
        std::FILE* child = ::popen(command.c_str(), "r");
        REQUIRE(child != nullptr);
        std::array<char, 256> buffer{};
        while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), child) != nullptr)
            there += buffer.data();
        REQUIRE(::pclose(child) == 0);
    }
    CHECK(std::count(here.begin(), here.end(), '\n') == count);
    CHECK(here == there);
}
