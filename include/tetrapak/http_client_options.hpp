// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_HTTP_CLIENT_OPTIONS_HPP
#define TETRAPAK_HTTP_CLIENT_OPTIONS_HPP

/// \file
/// `http_client_options`: what one authorization is for.

#include <tetrapak/actor_token.hpp>
#include <tetrapak/config.hpp>

#include <iosfwd>
#include <memory>

namespace tetrapak {

/// What one authorization is for (the SDK's `HttpClientOptions`).
struct http_client_options {
    /// The configuration to use; null: the service's own configuration.
    std::shared_ptr<const tetrapak::auth_config> auth_config{};
    /// The incoming caller's token (the subject of a token exchange).
    tetrapak::actor_token actor_token{};
    /// Fetch a new token even when a cached one is valid.
    bool force_authorization = false;

    /// Prints the configuration (secrets redacted), the actor token as its
    /// `operator<<` does (never the token) and force_authorization.
    friend std::ostream& operator<<(std::ostream& os, const http_client_options& o);
};

} // namespace tetrapak

#endif
