// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
// The token endpoint's answer: the token response (RFC 6749 §5), its error
// form, JWT expiry, and Retry-After (RFC 9110 §10.2.3).
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>

#include "detail/diag.hpp"
#include "detail/text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/evp.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <locale>
#include <sstream>

namespace tetrapak {
namespace {

using boost::system::error_code;
using access = detail::diagnostics_access;
using detail::diag_text_of;
using detail::has_forbidden_char;
using detail::iequals;
using detail::max_diag_text;

constexpr std::int64_t max_expires_in = 10LL * 365 * 24 * 3600; // ten years

template <class T>
boost::system::result<T> fail(diagnostics& diag, error_code ec, std::string_view detail = {})
{
    return detail::fail_with<T>(diag, ec, detail);
}

std::optional<std::vector<unsigned char>> base64url_decode(std::string_view in)
{
    if (in.empty() || in.size() % 4 == 1)
        return std::nullopt;
    std::string b64;
    b64.reserve(in.size() + 3);
    for (char c : in) {
        if (c == '-')
            b64 += '+';
        else if (c == '_')
            b64 += '/';
        else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            b64 += c;
        else
            return std::nullopt; // '+', '/', '=' and anything else are not base64url
    }
    std::size_t pad = (4 - b64.size() % 4) % 4;
    b64.append(pad, '=');
    std::vector<unsigned char> out(b64.size() / 4 * 3);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad)
        return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::optional<boost::json::object> decode_json_object(std::string_view b64url)
{
    auto bytes = base64url_decode(b64url);
    if (!bytes)
        return std::nullopt;
    error_code ec;
    auto v = boost::json::parse(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

// expires_in: a JSON number or a numeric string (RFC 6749 says number; servers send both).
std::optional<std::int64_t> read_expires_in(const boost::json::value& v)
{
    if (v.is_int64()) {
        auto n = v.get_int64();
        if (n < 0 || n > max_expires_in)
            return std::nullopt;
        return n;
    }
    if (v.is_uint64()) {
        auto n = v.get_uint64();
        if (n > static_cast<std::uint64_t>(max_expires_in))
            return std::nullopt;
        return static_cast<std::int64_t>(n);
    }
    if (v.is_double()) {
        double d = v.get_double();
        if (!std::isfinite(d) || d < 0 || d > static_cast<double>(max_expires_in))
            return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    if (v.is_string()) {
        std::string_view s = v.get_string();
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || n < 0 || n > max_expires_in)
            return std::nullopt;
        return n;
    }
    return std::nullopt;
}

/// RFC 9449 §6: a DPoP token only for a request that carried a proof, and a
/// JWT access token's cnf.jkt (when it has one) naming the proof's key. A
/// Bearer answer to a DPoP request is accepted (§5: a server without DPoP
/// issues Bearer tokens) and used as a Bearer token.
error_code check_dpop_binding(const actor_token::fields& f, std::string_view jkt, diagnostics& diag)
{
    auto mismatch = [&](std::string_view why) {
        access::client_message(diag).assign(why);
        return make_error_code(error::dpop_key_mismatch);
    };
    if (f.token_type == "DPoP" && jkt.empty())
        return mismatch("token_type is DPoP, but the request carried no DPoP proof");
    auto claims = decode_jwt_payload(f.value);
    const auto* cnf = claims ? claims->if_contains("cnf") : nullptr;
    const auto* bound = cnf && cnf->is_object() ? cnf->get_object().if_contains("jkt") : nullptr;
    if (!bound)
        return {};
    if (jkt.empty())
        return mismatch("the access token is DPoP-bound (cnf.jkt), but the request carried no DPoP proof");
    if (!bound->is_string() || std::string_view(bound->get_string()) != jkt)
        return mismatch("the access token's cnf.jkt is not the proof key's thumbprint");
    return {};
}

} // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now)
{
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
    if (value.empty())
        return std::nullopt;
    if (value.front() >= '0' && value.front() <= '9') {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc{} || p != value.data() + value.size())
            return std::nullopt;
        return std::chrono::seconds{n};
    }
    // IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
    std::tm tm{};
    std::istringstream is{std::string(value)};
    is.imbue(std::locale::classic());
    is >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
    if (is.fail())
        return std::nullopt;
    is >> std::ws;
    if (!is.eof())
        return std::nullopt;
    std::time_t t = timegm(&tm);
    if (t == static_cast<std::time_t>(-1))
        return std::nullopt;
    auto when = std::chrono::system_clock::from_time_t(t);
    if (when <= now)
        return std::chrono::seconds{0};
    return std::chrono::ceil<std::chrono::seconds>(when - now);
}

std::optional<std::chrono::system_clock::time_point> jwt_expiry(const boost::json::object& claims)
{
    const auto* v = claims.if_contains("exp");
    if (!v)
        return std::nullopt;
    constexpr std::int64_t max_secs = std::int64_t{1} << 40;
    std::int64_t secs = 0;
    if (v->is_int64())
        secs = v->get_int64();
    else if (v->is_uint64() && v->get_uint64() < static_cast<std::uint64_t>(max_secs))
        secs = static_cast<std::int64_t>(v->get_uint64());
    else if (v->is_double() && std::isfinite(v->get_double()) && v->get_double() >= 0 &&
             v->get_double() < static_cast<double>(max_secs))
        secs = static_cast<std::int64_t>(v->get_double());
    else
        return std::nullopt;
    if (secs < 0 || secs >= max_secs)
        return std::nullopt;
    return std::chrono::system_clock::time_point{std::chrono::seconds{secs}};
}

std::optional<boost::json::object> decode_jwt_payload(std::string_view token)
{
    auto d1 = token.find('.');
    if (d1 == std::string_view::npos)
        return std::nullopt;
    auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return std::nullopt;
    auto header = decode_json_object(token.substr(0, d1));
    if (!header || !header->contains("alg"))
        return std::nullopt;
    return decode_json_object(token.substr(d1 + 1, d2 - d1 - 1));
}

boost::system::result<actor_token> parse_token_response(const http_response_view& response, const parse_options& opts,
                                                        diagnostics& diag)
{
    diag.clear();
    access::http_status(diag) = response.status;
    const bool success = response.status >= 200 && response.status < 300;

    error_code jec;
    boost::json::value body = boost::json::parse(response.body, jec);
    const boost::json::object* obj = (!jec && body.is_object()) ? &body.get_object() : nullptr;

    // RFC 6749 §5.2 error body: on any status, and on a 2xx without a token.
    if (obj && obj->contains("error") && !(success && obj->contains("access_token"))) {
        const auto* e = obj->if_contains("error");
        if (e && e->is_string()) {
            access::error(diag) = diag_text_of(e);
            access::error_description(diag) = diag_text_of(obj->if_contains("error_description"));
            access::error_uri(diag) = diag_text_of(obj->if_contains("error_uri"));
            access::www_authenticate(diag) = std::string(response.www_authenticate.substr(0, max_diag_text));
            access::retry_after(diag) = parse_retry_after(response.retry_after, opts.sent_at);
            return make_error_code(oauth_errc_from_string(diag.error()));
        }
    }
    if (!success) {
        access::www_authenticate(diag) = std::string(response.www_authenticate.substr(0, max_diag_text));
        access::retry_after(diag) = parse_retry_after(response.retry_after, opts.sent_at);
        if (response.status >= 300 && response.status < 400)
            return error::redirect_not_followed;
        if (response.status == 429)
            return error::too_many_requests;
        if (response.status >= 500 && response.status < 600)
            return error::server_unavailable;
        if (response.status == 401 || response.status == 403)
            return error::client_refused; // servers that answer every client failure so, without a body
        return error::unexpected_http_status;
    }
    if (!obj)
        return fail<actor_token>(diag, error::malformed_response, jec ? "the body is not JSON" : "the body is not a JSON object");

    actor_token::fields f;
    f.issued_at = opts.sent_at;
    const auto* at = obj->if_contains("access_token");
    if (!at || !at->is_string() || at->get_string().empty())
        return fail<actor_token>(diag, error::missing_access_token, "access_token");
    f.value = std::string_view(at->get_string());
    if (has_forbidden_char(f.value) || f.value.find(' ') != std::string::npos)
        return fail<actor_token>(diag, error::malformed_response, "access_token contains spaces or control characters");

    if (const auto* tt = obj->if_contains("token_type")) {
        if (!tt->is_string())
            return fail<actor_token>(diag, error::malformed_response, "token_type is not a string");
        std::string_view t = tt->get_string();
        if (iequals(t, "bearer"))
            f.token_type = "Bearer";
        else if (iequals(t, "n_a"))
            f.token_type = "N_A";
        else if (iequals(t, "dpop"))
            f.token_type = "DPoP";
        else
            return fail<actor_token>(diag, error::unsupported_token_type, "token_type");
    }
    if (auto ec = check_dpop_binding(f, opts.dpop_jkt, diag))
        return ec;

    if (const auto* ei = obj->if_contains("expires_in"); ei && !ei->is_null()) {
        auto secs = read_expires_in(*ei);
        if (!secs)
            return fail<actor_token>(diag, error::invalid_expires_in, "expires_in");
        f.expires_at = opts.sent_at + std::chrono::seconds{*secs};
    }

    if (const auto* sc = obj->if_contains("scope"); sc && !sc->is_null()) {
        if (sc->is_string()) {
            std::string_view s = sc->get_string();
            while (!s.empty()) {
                auto sp = s.find(' ');
                auto tok = s.substr(0, sp);
                if (!tok.empty())
                    f.scope.emplace_back(tok);
                if (sp == std::string_view::npos)
                    break;
                s.remove_prefix(sp + 1);
            }
        } else if (sc->is_array()) {
            for (const auto& item : sc->get_array()) {
                if (!item.is_string())
                    return fail<actor_token>(diag, error::malformed_response, "scope array holds a non-string");
                f.scope.emplace_back(std::string_view(item.get_string()));
            }
        } else {
            return fail<actor_token>(diag, error::malformed_response, "scope is neither a string nor an array");
        }
    }

    if (const auto* itt = obj->if_contains("issued_token_type"); itt && !itt->is_null()) {
        if (!itt->is_string())
            return fail<actor_token>(diag, error::malformed_response, "issued_token_type is not a string");
        f.issued_token_type = std::string_view(itt->get_string());
    }
    if (const auto* rt = obj->if_contains("refresh_token"); rt && !rt->is_null()) {
        if (!rt->is_string())
            return fail<actor_token>(diag, error::malformed_response, "refresh_token is not a string");
        if (!rt->get_string().empty())
            f.refresh_token = std::string(rt->get_string());
    }

    if (!f.expires_at) {
        // No expires_in: the JWT's exp if it is a JWT, else the configured default.
        if (auto claims = decode_jwt_payload(f.value))
            f.expires_at = jwt_expiry(*claims);
        if (!f.expires_at)
            f.expires_at = opts.sent_at + opts.default_lifetime;
    }
    diag.clear(); // success: nothing to report
    return actor_token(std::move(f));
}
} // namespace tetrapak
