// libFuzzer target: the token response parser (RFC 6749 §5.1) on 2xx answers.
#include <tetrapak/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace tetrapak;
    std::string_view body(reinterpret_cast<const char*>(data), size);
    diagnostics diag;
    parse_options opts{std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)), std::chrono::seconds(300)};
    auto r = parse_token_response({200, body, {}, {}}, opts, diag);
    if (r) {
        // A token is never empty and always has an expiry (a JWT `exp` may lie
        // in the past: the service refuses such a token, see token_job::succeed).
        if (r->value().empty() || !r->expires_at())
            __builtin_trap();
        (void)r->is_jwt();
        (void)r->fingerprint();
    }
    return 0;
}
