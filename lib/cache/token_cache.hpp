// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_CACHE_TOKEN_CACHE_HPP
#define TETRAPAK_LIB_CACHE_TOKEN_CACHE_HPP

// The token cache without I/O and without a clock of its own: every function
// takes `now`, so unit tests drive it with a virtual clock. Not synchronised:
// the service guards it with a mutex that is never held across I/O.

#include <tetrapak/actor_token.hpp>
#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tetrapak::detail {

using sys_clock = std::chrono::system_clock;
using digest = std::array<unsigned char, 32>;

/// SHA-256 over every configuration field that shapes a token: token endpoint
/// (or, when it comes from discovery, the discovery URL), client id, client
/// authentication method, sorted scopes, audience, resource, subject and
/// requested token types, the DPoP proof key's thumbprint (a bound token is
/// served only to its key), the jwt_bearer subject and assertion file.
/// Unambiguous (each field is length-prefixed).
digest config_digest(const auth_config& cfg);

/// What config_digest reads of the DPoP settings: "" when off, the key's
/// thumbprint, or a marker for the service's generated key.
std::string_view dpop_identity(const auth_config& cfg) noexcept;

/// config_digest, remembered per configuration object (the
/// `shared_ptr<const auth_config>` of http_client_options), so that a call
/// with its own configuration does not hash every field each time. An entry
/// is used only while its object is alive (the same control block, not just
/// the same address) and while the fields it was computed from compare equal:
/// a configuration changed in place is digested again. Thread-safe.
class config_digest_memo {
public:
    digest get(const std::shared_ptr<const auth_config>& cfg);

private:
    /// The fields config_digest reads, as they were.
    struct fields {
        std::string token_endpoint, discovery_document_url, client_id;
        client_auth_method auth_method{};
        bool auth_method_from_discovery = false;
        std::vector<std::string> scope;
        std::string resource, audience, subject_token_type, requested_token_type;
        std::string dpop, jwt_bearer_subject, jwt_bearer_file;
        explicit fields(const auth_config& c);
        bool same_as(const auth_config& c) const noexcept;
    };
    struct entry {
        std::weak_ptr<const auth_config> owner;
        fields f;
        digest d;
    };
    std::mutex mtx_;
    std::unordered_map<const auth_config*, entry> map_;
};

/// What a token is cached under: the configuration's digest, the grant and
/// the digest of the subject token (zero when there is none). Raw tokens are
/// never part of a key.
struct cache_key {
    digest config{};
    digest subject{};
    grant_type grant = grant_type::client_credentials;
    friend bool operator==(const cache_key&, const cache_key&) = default;
};

struct cache_key_hash {
    std::size_t operator()(const cache_key& k) const noexcept;
};

cache_key make_cache_key(const digest& config, grant_type grant, const actor_token& subject) noexcept;

/// When a fetched token stops being served, and when its renewal starts.
struct token_times {
    sys_clock::time_point expires;      ///< the token's expiry (capped at the subject's `exp`)
    sys_clock::time_point usable_until; ///< expires - margin: served until here
    sys_clock::time_point refresh_at;   ///< from here the next caller starts a background renewal
};

/// The times of a token whose request was sent at `sent_at`. `subject_expiry`
/// caps exchanged tokens. `jitter` in [0, 1) moves refresh_at earlier by up to
/// `s.refresh_jitter` of the refresh lead. Nothing when the token is already
/// unusable (no positive lifetime).
std::optional<token_times> token_lifetime(const actor_token& token, sys_clock::time_point sent_at,
                                          std::optional<sys_clock::time_point> subject_expiry,
                                          const cache_settings& s, double jitter);

/// A failure remembered for a key while the server's Retry-After runs.
struct remembered_failure {
    boost::system::error_code ec;
    tetrapak::diagnostics diag; ///< retry_after is the remaining delay when returned by lookup
};

class token_cache {
public:
    explicit token_cache(std::size_t max_entries) : max_entries_(max_entries ? max_entries : 1) {}

    enum class state {
        miss,  ///< nothing usable: fetch (with `refresh_token` when the old entry has one)
        fresh, ///< `token` is usable
        renew, ///< `token` is usable and this caller must start the one background renewal
        blocked, ///< the server's Retry-After for this key is running: fail with `failure`
    };
    struct lookup_result {
        state st = state::miss;
        actor_token token;
        std::string refresh_token; ///< for a renewal or a miss on an expired entry with one
        /// A server's Retry-After runs for this key (even when a usable token is served).
        bool blocked = false;
        remembered_failure failure;
    };

    /// Looks `key` up and marks it most recently used. At most one caller per
    /// refresh window gets `renew` (until store or renewal_failed).
    lookup_result lookup(const cache_key& key, sys_clock::time_point now);

    enum class probe_result {
        usable,   ///< `out` holds the token
        renew,    ///< usable, but a renewal is due: call lookup (it hands out the renewal once)
        unusable, ///< no usable token (or one under a Retry-After that lookup must see)
    };
    /// The cache-hit path: lookup's answer for a usable token without the
    /// rest of a lookup_result. Marks the entry most recently used when usable.
    /// `serve_until`, when given, is set for a usable token to when it may
    /// stop being served as it is (its refresh time or the end of its use).
    probe_result probe(const cache_key& key, sys_clock::time_point now, actor_token& out,
                       sys_clock::time_point* serve_until = nullptr);

    /// Stores a fetched token (replacing any entry) and evicts the least
    /// recently used entries beyond the bound. `refresh_token` is kept with
    /// it (the one the server issued, or the one the request used).
    void store(const cache_key& key, actor_token token, const token_times& t, std::string refresh_token);

    /// A background renewal failed: the entry is served on (stale-if-error)
    /// and the next renewal may start at `retry_at` (clamped to before the
    /// entry becomes unusable, when it can be).
    void renewal_failed(const cache_key& key, sys_clock::time_point now, sys_clock::time_point retry_at);

    /// The refresh token stored with `key` (empty when none), for a forced renewal.
    std::string refresh_token(const cache_key& key) const;

    /// The refresh token was rejected: forget it (the entry stays).
    void drop_refresh_token(const cache_key& key);

    /// Remembers a server's Retry-After for `key` until `until`.
    void block(const cache_key& key, sys_clock::time_point until, remembered_failure f);

    /// Removes the entry (and any Retry-After). True when there was one.
    bool invalidate(const cache_key& key);
    void clear();

    /// Removes entries past their expiry that hold no refresh token, and
    /// expired Retry-After records. Returns how many entries it removed.
    std::size_t sweep(sys_clock::time_point now);

    std::size_t size() const noexcept { return map_.size(); }
    std::size_t max_entries() const noexcept { return max_entries_; }

private:
    struct entry {
        cache_key key;
        actor_token token;
        token_times times;
        std::string refresh_token;
        bool renewing = false;
    };
    using list = std::list<entry>;
    struct blocked_entry {
        sys_clock::time_point until;
        remembered_failure failure;
    };

    std::size_t max_entries_;
    list lru_; // most recently used first
    std::unordered_map<cache_key, list::iterator, cache_key_hash> map_;
    std::unordered_map<cache_key, blocked_entry, cache_key_hash> blocked_;
};

} // namespace tetrapak::detail

#endif
