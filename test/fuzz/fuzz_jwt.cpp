// libFuzzer target: JWT claim reading (decode without verification), the
// actor_token built from a raw incoming value, and the incoming-token helper.
#include <tetrapak/actor_token.hpp>
#include <tetrapak/incoming.hpp>
#include <tetrapak/protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace tetrapak;
    std::string raw(reinterpret_cast<const char*>(data), size);
    if (auto claims = decode_jwt_payload(raw))
        (void)jwt_expiry(*claims);
    actor_token t(raw);
    (void)t.is_jwt();
    (void)t.string_claim("userType");
    (void)t.jwt_expiry();
    (void)is_system_identity(t);
    diagnostics diag;
    (void)resolve_grant(grant_type::automatic, t, diag);
    if (raw.find_first_of("\r\n") == std::string::npos) {
        boost::beast::http::fields f;
        f.insert(boost::beast::http::field::authorization, raw);
        auto in = incoming_token(f);
        if (!in.empty() && in.value().find(' ') != std::string_view::npos)
            __builtin_trap(); // a b64token never holds a space
    }
    return 0;
}
