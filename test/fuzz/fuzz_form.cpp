// libFuzzer target: the form / URL / header builders. Input: NUL-separated
// fields (token endpoint, client id, secret, scope, audience, resource, subject).
#include <tetrapak/protocol.hpp>

#include <boost/url/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace tetrapak;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> f;
    for (std::size_t start = 0; f.size() < 8;) {
        auto n = in.find('\0', start);
        f.emplace_back(in.substr(start, n == std::string_view::npos ? std::string_view::npos : n - start));
        if (n == std::string_view::npos)
            break;
        start = n + 1;
    }
    f.resize(8);
    // form_encode output is always valid application/x-www-form-urlencoded
    auto enc = form_encode(f[1]);
    if (enc.find_first_of(" &=\r\n") != std::string::npos)
        __builtin_trap();
    (void)basic_authorization(f[1], f[2]);
    diagnostics diag;
    (void)parse_endpoint(f[0], size > 0 && (data[0] & 1) != 0, diag);

    auth_config cfg;
    cfg.token_endpoint = f[0];
    cfg.client_id = f[1];
    cfg.client_secret = f[2];
    if (!f[3].empty())
        cfg.scope = {f[3]};
    cfg.audience = f[4];
    cfg.resource = f[5];
    cfg.allow_insecure_http_on_loopback = true;
    cfg.auth_method = (size > 1 && (data[1] & 1)) ? client_auth_method::client_secret_post : client_auth_method::client_secret_basic;
    actor_token subject(f[6]);
    grant_inputs gi;
    gi.grant = subject.empty() ? grant_type::client_credentials : grant_type::token_exchange;
    gi.subject = &subject;
    gi.refresh_token = f[7];
    auto req = build_token_request(cfg, gi, diag);
    if (req) {
        // Nothing that reaches the wire carries CR, LF or NUL.
        for (auto& h : req->fields)
            if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
                __builtin_trap();
        if (req->body.find_first_of(std::string_view("\r\n\0 ", 4)) != std::string::npos)
            __builtin_trap();
    }
    return 0;
}
