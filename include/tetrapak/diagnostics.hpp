// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_DIAGNOSTICS_HPP
#define TETRAPAK_DIAGNOSTICS_HPP

/// \file
/// `diagnostics`: what the authorization server said beyond the error code.

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace tetrapak {

namespace detail { struct diagnostics_access; }

/// What the authorization server said, beyond the error code.
///
/// Server-supplied text (`error`, `error_description`, `error_uri`,
/// `WWW-Authenticate`) is kept verbatim here and never mixed into this
/// library's own messages. `client_message()` holds a detail this library
/// adds (which configuration key, which TLS verification check).
/// Never holds a secret or a token.
class diagnostics {
public:
    /// RFC 6749 §5.2 `error`, e.g. "invalid_client". Empty when none.
    std::string_view error() const noexcept { return error_; }
    /// RFC 6749 §5.2 `error_description`. Empty when none.
    std::string_view error_description() const noexcept { return error_description_; }
    /// RFC 6749 §5.2 `error_uri`. Empty when none.
    std::string_view error_uri() const noexcept { return error_uri_; }
    /// The HTTP status of the token endpoint's answer, 0 when there was none.
    unsigned http_status() const noexcept { return http_status_; }
    /// The server's `Retry-After`, as a delay from when the answer arrived.
    std::optional<std::chrono::seconds> retry_after() const noexcept { return retry_after_; }
    /// The server's `WWW-Authenticate` header. Empty when none.
    std::string_view www_authenticate() const noexcept { return www_authenticate_; }
    /// A detail added by this library (e.g. "auth_config.client_id", or the
    /// certificate verification failure). Empty when none.
    std::string_view client_message() const noexcept { return client_message_; }

    /// True when nothing is recorded.
    bool empty() const noexcept;
    /// Empties every field (as a default-constructed object).
    void clear() noexcept { *this = diagnostics{}; }

    /// Equal when every field is equal.
    friend bool operator==(const diagnostics&, const diagnostics&) = default;
    /// Prints every non-empty field; server text is quoted.
    friend std::ostream& operator<<(std::ostream& os, const diagnostics& d);

private:
    friend struct detail::diagnostics_access;
    std::string error_;
    std::string error_description_;
    std::string error_uri_;
    std::string www_authenticate_;
    std::string client_message_;
    std::optional<std::chrono::seconds> retry_after_;
    unsigned http_status_ = 0;
};

namespace detail {
struct diagnostics_access {
    static std::string& error(diagnostics& d) noexcept { return d.error_; }
    static std::string& error_description(diagnostics& d) noexcept { return d.error_description_; }
    static std::string& error_uri(diagnostics& d) noexcept { return d.error_uri_; }
    static std::string& www_authenticate(diagnostics& d) noexcept { return d.www_authenticate_; }
    static std::string& client_message(diagnostics& d) noexcept { return d.client_message_; }
    static std::optional<std::chrono::seconds>& retry_after(diagnostics& d) noexcept { return d.retry_after_; }
    static unsigned& http_status(diagnostics& d) noexcept { return d.http_status_; }
};
} // namespace detail

} // namespace tetrapak

#endif
