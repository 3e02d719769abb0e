// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_FLEET_HPP
#define TETRAPAK_FLEET_HPP

/// \file
/// The shared token store of a fleet: every replica of a service keeps
/// its in-process cache and, with `fleet_settings::redis_url` set, shares
/// tokens with the others through Redis (README "Fleets").

#include <tetrapak/secret.hpp>

#include <chrono>
#include <string>

namespace tetrapak {

/// A token store on Redis behind the in-process cache. Service-wide: read
/// from the service's own configuration. Lookup order: the in-process cache,
/// then Redis, then the token endpoint. One instance of the fleet fetches a
/// cold or expiring key (a Redis lock elects it); the others wait for its
/// token. Every value is sealed with AES-256-GCM under `keys`; DPoP keys and
/// private keys never leave the process. When Redis fails or stalls, calls go
/// on with the in-process cache alone (a circuit breaker), at most `command`
/// later.
struct fleet_settings {
    /// redis://[user:password@]host[:port][/db] or rediss:// (TLS); empty: no shared store.
    /// The password in it is a secret: printed redacted.
    std::string redis_url;
    /// Replace the URL's user info when set (ACL user, or the password alone for `requirepass`).
    std::string username;
    /// Replaces the URL's password when set. A secret.
    tetrapak::secret password;
    /// Prefix of every Redis key and of the notification channel.
    std::string key_prefix = "tetrapak:";
    /// The envelope keys, `id:base64[,id:base64...]` (32 bytes each, e.g.
    /// `openssl rand -base64 32`); the first seals, all open. A secret.
    tetrapak::secret keys;
    /// Or a file holding that list (read once, when the service is made).
    std::string key_file;
    /// Share refresh tokens too (sealed like the rest). Off: a renewal by
    /// another instance fetches anew.
    bool share_refresh_tokens = false;
    /// rediss://: PEM file of trusted CAs (empty: the system's).
    std::string ca_file;

    std::chrono::milliseconds connect_timeout{100}; ///< name resolution, TCP connect, TLS, AUTH
    std::chrono::milliseconds command_timeout{50};  ///< each command's round trip
    /// The fetcher's lock lives this long: if it dies, another takes over after it.
    std::chrono::milliseconds lock_ttl{5000};
    /// Longest wait for another instance's fetch before fetching anyway.
    std::chrono::milliseconds max_wait{5000};
    /// Consecutive failures that open the circuit breaker (in-process only).
    int breaker_failures = 3;
    /// How long the breaker stays open before one probe tries Redis again.
    std::chrono::milliseconds breaker_open{1000};

    /// True when `redis_url` is set: the service uses the shared store.
    bool enabled() const noexcept { return !redis_url.empty(); }
};

} // namespace tetrapak

#endif
