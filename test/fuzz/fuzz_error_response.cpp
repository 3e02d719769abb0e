// libFuzzer target: error answers (RFC 6749 §5.2), Retry-After and WWW-Authenticate.
// Input: byte 0 picks the status; then "retry-after\nwww-authenticate\nbody".
#include <tetrapak/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace tetrapak;
    if (size < 1)
        return 0;
    static constexpr unsigned statuses[] = {400, 401, 403, 404, 429, 500, 502, 503, 302, 204, 100, 599};
    const unsigned status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto cut = [&](std::string_view& s) {
        auto n = s.find('\n');
        auto head = s.substr(0, n);
        s = n == std::string_view::npos ? std::string_view() : s.substr(n + 1);
        return head;
    };
    auto retry_after = cut(rest);
    auto www = cut(rest);
    diagnostics diag;
    auto r = parse_token_response({status, rest, retry_after, www}, {}, diag);
    if (r && status >= 300)
        __builtin_trap(); // a non-2xx answer is never a token
    (void)parse_retry_after(retry_after, std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
    return 0;
}
