// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_INCOMING_HPP
#define TETRAPAK_INCOMING_HPP

/// \file
/// The caller's token from an incoming Beast request: the subject of a
/// token exchange (the SDK reads its configured `AuthorizationHeader`).

#include <tetrapak/actor_token.hpp>

#include <boost/beast/http/fields.hpp>

#include <string_view>

namespace tetrapak {

/// The caller's token from the `header_name` field of an incoming request.
///
/// Accepts `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1) and, in
/// a custom header, a bare token. Returns the empty token when the field is
/// missing, appears more than once (ambiguous), uses another scheme (Basic,
/// ...), or the token is not RFC 6750 `b64token` syntax. The result's JWT
/// claims are decoded but not verified: use it as the subject of a token
/// exchange, whose server verifies it, never to trust the caller directly.
actor_token incoming_token(const boost::beast::http::fields& headers, std::string_view header_name = "Authorization");

} // namespace tetrapak

#endif
