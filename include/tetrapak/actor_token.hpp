// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_ACTOR_TOKEN_HPP
#define TETRAPAK_ACTOR_TOKEN_HPP

/// \file
/// `actor_token`: a token with what is known about it (the SDK's `ActorToken`).

#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak {

class actor_token;
namespace detail {
struct token_state;
const std::array<unsigned char, 32>& token_digest(const actor_token& t) noexcept;
/// A copy of `t` that shares no state (and so no reference count) with it.
actor_token unshared_copy(const actor_token& t);
} // namespace detail

/// An access token (issued to us) or an incoming caller's token (the subject
/// of a token exchange).
///
/// Immutable and cheap to copy (copies share one state). The raw value never
/// carries a "Bearer " prefix. JWT claims are decoded once, without signature
/// verification: they are for routing decisions (`exp`, `userType`), never
/// for trusting a caller.
///
/// `operator<<` never prints the token: it prints its type, length and a short
/// SHA-256 fingerprint.
class actor_token {
public:
    /// The clock of expires_at() and issued_at(): the wall clock, as JWT `exp` is.
    using clock = std::chrono::system_clock;

    /// What a token is made of (the input of actor_token(fields)).
    struct fields {
        std::string value;              ///< raw token, no "Bearer "
        std::string token_type = "Bearer"; ///< "Bearer", "DPoP" or "N_A"; kept as given (compared case-sensitively)
        std::optional<clock::time_point> expires_at; ///< nullopt: unknown (is_expired() is then false)
        std::vector<std::string> scope;  ///< granted scopes, one per entry; empty: the server did not say
        std::string issued_token_type;  ///< RFC 8693 issued_token_type, empty when absent
        std::optional<std::string> refresh_token; ///< the refresh token, when the server issued one
        /// When the request that produced the token was sent (zero for incoming tokens).
        clock::time_point issued_at{};
    };

    /// The empty token.
    actor_token() noexcept = default;
    /// An incoming token with just its raw value (expiry from the JWT `exp`, if any).
    /// A leading "Bearer " (any case) is removed.
    explicit actor_token(std::string raw);
    /// A token made of `f` as given: no "Bearer " prefix is removed and, unlike
    /// actor_token(std::string), `expires_at` is not taken from the JWT `exp`.
    /// The JWT claims are decoded.
    explicit actor_token(fields f);

    /// True for the default-constructed token and for one whose value is empty.
    bool empty() const noexcept;
    /// True when not empty().
    explicit operator bool() const noexcept { return !empty(); }

    /// The raw token, no scheme prefix.
    std::string_view value() const noexcept;
    /// "Bearer", "DPoP" (normalised case) or the server's N_A.
    std::string_view token_type() const noexcept;
    /// token_type "DPoP": the token is bound to a DPoP proof key (RFC 9449)
    /// and is only usable with a proof made with that key.
    bool is_dpop_bound() const noexcept;
    /// When the token stops being valid, when known.
    std::optional<clock::time_point> expires_at() const noexcept;
    /// Granted scopes (empty when the server did not say).
    std::span<const std::string> scope() const noexcept;
    /// RFC 8693 `issued_token_type` of a token exchange answer; empty when absent.
    std::string_view issued_token_type() const noexcept;
    /// The refresh token, when the server issued one.
    std::optional<std::string_view> refresh_token() const noexcept;
    /// When the request that produced the token was sent; the zero time point
    /// for incoming tokens and the empty token.
    clock::time_point issued_at() const noexcept;

    /// True when the value is a JWS compact serialisation whose header and
    /// payload decode to JSON objects.
    bool is_jwt() const noexcept;
    /// The decoded JWT payload (empty object when not a JWT). Not verified.
    const boost::json::object& claims() const noexcept;
    /// A string claim, when present and a string.
    std::optional<std::string_view> string_claim(std::string_view name) const noexcept;
    /// The JWT `exp` claim.
    std::optional<clock::time_point> jwt_expiry() const noexcept;

    /// True when expired at `now` (unknown expiry: false).
    bool is_expired(clock::time_point now = clock::now()) const noexcept;

    /// "Bearer <token>", or "DPoP <token>" for a DPoP-bound token: the value
    /// of an Authorization header (a DPoP one also needs a proof: authorized_client sends it).
    std::string authorization_header() const;

    /// The first 8 hex digits of the SHA-256 of the token: safe to log.
    std::string fingerprint() const;

    /// Equal when both are empty, or when value, token type, expiry, scope,
    /// issued token type and refresh token are equal (issued_at is not compared).
    friend bool operator==(const actor_token& a, const actor_token& b) noexcept;
    /// Prints type, length, fingerprint, expiry, scope and issued token type;
    /// never the token or the refresh token.
    friend std::ostream& operator<<(std::ostream& os, const actor_token& t);

private:
    friend const std::array<unsigned char, 32>& detail::token_digest(const actor_token&) noexcept;
    friend actor_token detail::unshared_copy(const actor_token&);
    std::shared_ptr<const detail::token_state> state_;
};

} // namespace tetrapak

#endif
