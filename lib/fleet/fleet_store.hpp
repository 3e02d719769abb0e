// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_FLEET_STORE_HPP
#define TETRAPAK_LIB_FLEET_FLEET_STORE_HPP

// The fleet's shared store on Redis (see shared_entry.hpp for what is kept
// where): lookups, the fetcher's lock, sharing a fetched token or a server's
// Retry-After, invalidation, and the subscriber that hears the others.
//
// Every Redis error becomes "not there" for the caller (and a metric):
// the service then works from its in-process cache. A circuit breaker skips
// Redis after repeated failures. The operations a token job awaits run as
// coroutines on the job's own executor and honour its cancellation; the
// writes after a fetch are sent and not waited for.

#include "breaker.hpp"
#include "envelope.hpp"
#include "redis_connection.hpp"
#include "shared_entry.hpp"

#include "../detail/counters.hpp"

#include <tetrapak/fleet.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace tetrapak::detail {

/// What a lookup saw for one key.
struct fleet_view {
    bool reachable = false;               ///< false: Redis failed or the breaker is open
    std::optional<shared_token> token;    ///< a usable shared token
    std::optional<shared_failure> failure; ///< a running Retry-After
    bool locked = false;                  ///< another instance holds the fetcher's lock
};

class fleet_store : public std::enable_shared_from_this<fleet_store> {
public:
    /// Reads the settings (URL, keys). Throws error_with_diagnostics
    /// (error::config_invalid_value or key_load_failed) when they are wrong:
    /// the message names the setting, never a secret.
    static std::shared_ptr<fleet_store> make(boost::asio::any_io_executor ex, const fleet_settings& s,
                                             std::shared_ptr<event_counters> counters);
    ~fleet_store();

    /// Starts the subscriber; `drop(key)` runs (on the store's strand) when
    /// another instance renewed or invalidated `key`.
    void start(std::function<void(const cache_key&)> drop);

    const fleet_settings& settings() const noexcept { return settings_; }

    // The coroutines keep references to their arguments across suspensions:
    // co_await them at once, with arguments that outlive the await. (By
    // value, GCC 12 warns -Wmismatched-new-delete on the coroutine frame.)
    boost::asio::awaitable<fleet_view> lookup(const fleet_names& n);
    enum class lock_result {
        won,    ///< this instance holds the lock (as `owner`)
        lost,   ///< another instance holds it
        failed, ///< Redis did not say (error reply, timeout, cancelled): a release is sent in case it was taken
    };
    boost::asio::awaitable<lock_result> try_lock(const fleet_names& n, const std::string& owner);
    /// A mark of the news heard so far for `n` (take it before looking).
    std::uint64_t news_mark(const fleet_names& n) const noexcept;
    /// Returns when a token is announced for `n.digest` (or was, since
    /// `mark` was taken: a message between the look and this wait is not
    /// missed), or after `d`.
    boost::asio::awaitable<void> wait_for_news(const fleet_names& n, std::uint64_t mark, std::chrono::milliseconds d);

    /// Stores `t` (its life as TTL), announces it, tells the others to drop
    /// their copies when `drop_others`, and releases `owner`'s lock.
    void share(const cache_key& key, const shared_token& t, bool drop_others, const std::string& owner);
    void share_failure(const cache_key& key, const shared_failure& f, const std::string& owner);
    void release(const fleet_names& n, const std::string& owner);
    /// Deletes the shared token and tells the others to drop their copies.
    void invalidate(const cache_key& key);

    /// A random lock owner value (128 bits, hex).
    static std::string new_owner();

private:
    fleet_store(boost::asio::any_io_executor ex, fleet_settings s, redis_endpoint ep, envelope_keyring ring,
                std::shared_ptr<event_counters> counters, std::shared_ptr<boost::asio::ssl::context> tls);

    boost::asio::awaitable<std::pair<boost::system::error_code, redis_reply>> command(redis_command cmd);
    /// Sends without waiting (breaker and metrics still see the outcome);
    /// `on_success` is reported when Redis accepted it.
    void send(redis_command cmd, std::optional<metric> on_success = std::nullopt);
    void heard(const redis_reply& message);
    std::optional<std::string> open_value(const redis_reply& r, std::string_view aad);
    void keep_subscribed();

    fleet_settings settings_;
    envelope_keyring ring_;
    std::shared_ptr<event_counters> counters_;
    std::string instance_; ///< this store's id in "drop" messages
    std::string channel_;
    std::shared_ptr<redis_connection> conn_; ///< commands
    std::shared_ptr<redis_connection> sub_;  ///< the subscription
    boost::asio::any_io_executor strand_;
    std::function<void(const cache_key&)> drop_;
    std::shared_ptr<boost::asio::steady_timer> ping_timer_; ///< the subscription's (on strand_)

    std::mutex mtx_; ///< guards breaker_ and watchers_
    circuit_breaker breaker_;
    std::multimap<std::string, std::function<void()>> watchers_; ///< digest -> wake
    /// "ready" messages heard, counted per slot of digests (a shared slot
    /// only costs a waiter an early look).
    mutable std::array<std::atomic<std::uint64_t>, 64> news_{};
    std::atomic<std::uint64_t>& news_of(const std::string& digest) const noexcept;
};

} // namespace tetrapak::detail

#endif
