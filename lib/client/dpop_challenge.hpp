// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_CLIENT_DPOP_CHALLENGE_HPP
#define TETRAPAK_LIB_CLIENT_DPOP_CHALLENGE_HPP

// Reading a resource server's WWW-Authenticate challenges (RFC 9110 §11.6.1)
// for the one answer authorized_client acts on besides a plain 401: a DPoP
// challenge whose error is use_dpop_nonce (RFC 9449 §9). Pure, unit-tested.

#include "../detail/text.hpp"

#include <string_view>

namespace tetrapak::detail {

/// True when `header` (one WWW-Authenticate field value, possibly holding
/// several challenges) has a DPoP challenge with error="use_dpop_nonce"
/// (quoted or not). A Bearer challenge with that error does not count.
inline bool asks_for_dpop_nonce(std::string_view header) noexcept
{
    bool in_dpop = false;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t' || header[i] == ','))
            ++i;
    };
    auto read_token = [&] {
        std::size_t b = i;
        while (i < header.size() && header[i] != ' ' && header[i] != '\t' && header[i] != ',' && header[i] != '=')
            ++i;
        return header.substr(b, i - b);
    };
    for (skip_space(); i < header.size(); skip_space()) {
        std::string_view name = read_token();
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t'))
            ++i;
        if (i >= header.size() || header[i] != '=') {
            in_dpop = iequals(name, "DPoP"); // a new challenge's scheme
            continue;
        }
        ++i; // '='
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t'))
            ++i;
        std::string_view value;
        if (i < header.size() && header[i] == '"') {
            std::size_t b = ++i;
            while (i < header.size() && header[i] != '"')
                i += header[i] == '\\' ? 2 : 1;
            value = header.substr(b, (i < header.size() ? i : header.size()) - b);
            ++i;
        } else {
            value = read_token();
        }
        if (in_dpop && iequals(name, "error") && value == "use_dpop_nonce")
            return true;
    }
    return false;
}

} // namespace tetrapak::detail

#endif
