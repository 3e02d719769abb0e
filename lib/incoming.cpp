// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/incoming.hpp>

#include "detail/text.hpp"

#include <string>

namespace tetrapak {
namespace {

/// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view s) noexcept
{
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
        if (!ok)
            break;
    }
    if (i == 0)
        return false;
    for (; i < s.size(); ++i)
        if (s[i] != '=')
            return false;
    return true;
}

} // namespace

actor_token incoming_token(const boost::beast::http::fields& headers, std::string_view header_name)
{
    auto range = headers.equal_range(header_name);
    if (range.first == range.second || std::next(range.first) != range.second)
        return {}; // missing, or ambiguous
    std::string_view v = detail::trim(range.first->value());
    const bool authorization = detail::iequals(header_name, "Authorization");
    if (v.size() > 7 && detail::iequals(v.substr(0, 7), "bearer "))
        v = detail::trim(v.substr(7));
    else if (authorization)
        return {}; // another scheme, or no scheme at all
    if (!is_b64token(v))
        return {};
    return actor_token(std::string(v));
}

} // namespace tetrapak
