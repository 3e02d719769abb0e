// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_DIAG_HPP
#define TETRAPAK_LIB_DETAIL_DIAG_HPP

// Filling diagnostics from the pure modules: the message a failure leaves
// for the user, and server text cut to a size fit for a log line.

#include <tetrapak/diagnostics.hpp>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace tetrapak::detail {

/// Longest server-provided text kept in diagnostics.
inline constexpr std::size_t max_diag_text = 2048;

/// Fails with `ec`, leaving `detail` as the client-side message.
template <class T>
boost::system::result<T> fail_with(diagnostics& diag, boost::system::error_code ec, std::string_view detail = {})
{
    diagnostics_access::client_message(diag).assign(detail);
    return ec;
}

/// A JSON string member's text cut to max_diag_text, or "" when absent or not a string.
inline std::string diag_text_of(const boost::json::value* v)
{
    if (!v || !v->is_string())
        return {};
    std::string_view s = v->get_string();
    return std::string(s.substr(0, max_diag_text));
}

} // namespace tetrapak::detail

#endif
