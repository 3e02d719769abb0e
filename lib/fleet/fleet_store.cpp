// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "fleet_store.hpp"

#include "../detail/strand.hpp"
#include "../transport/tls_context.hpp"

#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/rand.h>

namespace tetrapak::detail {
namespace asio = boost::asio;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {
constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

/// Compare-and-delete: only the lock's owner releases it.
constexpr const char* release_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

std::string millis(std::chrono::milliseconds d) { return std::to_string(std::max<long long>(d.count(), 1)); }

/// The time from `now` until `t`, in whole milliseconds (at least 1).
std::chrono::milliseconds until(sys_clock::time_point t, sys_clock::time_point now)
{
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(t - now), std::chrono::milliseconds(1));
}

redis_command mget(const fleet_names& n) { return {"MGET", n.token, n.retry_after, n.lock}; }

redis_command lock_command(const fleet_names& n, const std::string& owner, std::chrono::milliseconds ttl)
{
    return {"SET", n.lock, owner, "NX", "PX", millis(ttl)};
}

redis_command ping() { return {"PING"}; }

envelope_keyring read_keys(const fleet_settings& s)
{
    diagnostics diag;
    boost::system::result<envelope_keyring> ring = error::config_invalid_value;
    if (!s.keys.empty())
        ring = envelope_keyring::from_text(s.keys.reveal(), diag);
    else if (!s.key_file.empty())
        ring = envelope_keyring::from_file(s.key_file, diag);
    else
        diagnostics_access::client_message(diag) =
            "fleet.keys or fleet.key_file is required with fleet.redis_url: every shared value is encrypted "
            "(make a key with `openssl rand -base64 32`; see README \"Fleets\")";
    if (!ring)
        throw error_with_diagnostics(ring.error(), std::move(diag));
    return std::move(*ring);
}
} // namespace

std::shared_ptr<fleet_store> fleet_store::make(asio::any_io_executor ex, const fleet_settings& s,
                                               std::shared_ptr<event_counters> counters)
{
    diagnostics diag;
    auto ep = read_redis_endpoint(s, diag);
    if (!ep)
        throw error_with_diagnostics(ep.error(), std::move(diag));
    auto ring = read_keys(s);
    std::shared_ptr<asio::ssl::context> tls;
    if (ep->tls) {
        tls_settings t;
        t.ca_file = s.ca_file;
        tls = make_tls_context(t);
    }
    return std::shared_ptr<fleet_store>(
        new fleet_store(std::move(ex), s, std::move(*ep), std::move(ring), std::move(counters), std::move(tls)));
}

fleet_store::fleet_store(asio::any_io_executor ex, fleet_settings s, redis_endpoint ep, envelope_keyring ring,
                         std::shared_ptr<event_counters> counters, std::shared_ptr<asio::ssl::context> tls)
    : settings_(std::move(s)), ring_(std::move(ring)), counters_(std::move(counters)), instance_(new_owner()),
      channel_(channel_for(settings_.key_prefix)), strand_(make_strand_for(ex)),
      breaker_(settings_.breaker_failures, settings_.breaker_open)
{
    const redis_limits limits{settings_.connect_timeout, settings_.command_timeout};
    conn_ = std::make_shared<redis_connection>(ex, tls, ep, limits);
    // The subscriber waits for messages for ever: its pings, not its reads, have deadlines.
    sub_ = std::make_shared<redis_connection>(ex, tls, std::move(ep), limits);
}

fleet_store::~fleet_store()
{
    conn_->close_when_idle(); // the last shared token is written before the connection goes
    sub_->close();
    // The subscription's pings stop now, so that io_context::run() can return.
    if (ping_timer_)
        asio::post(strand_, [t = ping_timer_] { t->cancel(); });
}

std::string fleet_store::new_owner()
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed");
    return lower_hex({reinterpret_cast<const char*>(b), sizeof b});
}

void fleet_store::start(std::function<void(const cache_key&)> drop)
{
    drop_ = std::move(drop);
    std::weak_ptr<fleet_store> weak = shared_from_this();
    sub_->set_subscriber({{"SUBSCRIBE", channel_}}, [weak](redis_reply r) {
        if (auto self = weak.lock())
            self->heard(r);
    });
    keep_subscribed();
}

/// Pings the subscription once a second: a ping opens it again after Redis
/// came back, and so resubscribes.
void fleet_store::keep_subscribed()
{
    ping_timer_ = std::make_shared<asio::steady_timer>(strand_);
    asio::co_spawn(
        strand_,
        [weak = weak_from_this(), sub = sub_, timer = ping_timer_]() -> asio::awaitable<void> {
            for (;;) {
                if (weak.expired())
                    co_return;
                co_await sub->async_exec(ping(), awaitable_tuple);
                timer->expires_after(std::chrono::seconds(1));
                auto [ec] = co_await timer->async_wait(awaitable_tuple);
                if (ec == asio::error::operation_aborted)
                    co_return;
            }
        },
        asio::detached);
}

void fleet_store::heard(const redis_reply& r)
{
    if (r.elements.size() < 3)
        return;
    auto m = parse_message(r.elements.back().str);
    if (!m)
        return;
    if (m->what == fleet_message::kind::drop) {
        if (m->instance != instance_ && drop_) {
            drop_(*m->key);
            counters_->report(metric::fleet_dropped);
        }
        return;
    }
    news_of(m->digest).fetch_add(1); // before the watchers are read: see wait_for_news
    std::vector<std::function<void()>> wake;
    {
        std::lock_guard lock(mtx_);
        auto [b, e] = watchers_.equal_range(m->digest);
        for (auto it = b; it != e; ++it)
            wake.push_back(it->second);
    }
    for (auto& w : wake)
        w();
}

asio::awaitable<std::pair<error_code, redis_reply>> fleet_store::command(redis_command cmd)
{
    {
        std::lock_guard lock(mtx_);
        if (!breaker_.allow(steady::now())) {
            counters_->report(metric::fleet_unavailable, error::fleet_breaker_open);
            co_return std::pair{error_code(error::fleet_breaker_open), redis_reply{}};
        }
    }
    auto [ec, reply] = co_await conn_->async_exec(std::move(cmd), awaitable_tuple);
    const bool broken = ec == error::redis_unavailable || ec == error::redis_timeout || ec == error::redis_refused;
    bool opened = false, closed = false;
    {
        std::lock_guard lock(mtx_);
        if (ec == asio::error::operation_aborted)
            breaker_.abandoned();
        else if (broken)
            opened = breaker_.failed(steady::now());
        else
            closed = breaker_.succeeded();
    }
    if (broken)
        counters_->report(metric::fleet_unavailable, ec);
    if (opened)
        counters_->report(metric::fleet_breaker, ec);
    if (closed)
        counters_->report(metric::fleet_breaker);
    co_return std::pair{ec, std::move(reply)};
}

void fleet_store::send(redis_command cmd, std::optional<metric> on_success)
{
    asio::co_spawn(
        strand_,
        [self = shared_from_this(), cmd = std::move(cmd), on_success]() mutable -> asio::awaitable<void> {
            auto [ec, reply] = co_await self->command(std::move(cmd));
            if (!ec && on_success)
                self->counters_->report(*on_success);
        },
        asio::detached);
}

std::optional<std::string> fleet_store::open_value(const redis_reply& r, std::string_view aad)
{
    if (r.type != redis_reply::kind::string)
        return std::nullopt;
    auto plain = open(ring_, r.str, aad);
    if (!plain.has_value()) {
        counters_->report(metric::fleet_rejected, error::fleet_value_rejected);
        return std::nullopt;
    }
    return std::move(*plain);
}

asio::awaitable<fleet_view> fleet_store::lookup(const fleet_names& n)
{
    fleet_view v;
    // (Commands are built before co_await: GCC 12 cannot keep an
    // initializer list's array across a suspension.)
    auto get = mget(n);
    auto [ec, r] = co_await command(std::move(get));
    if (ec || r.type != redis_reply::kind::array || r.elements.size() != 3)
        co_return v;
    v.reachable = true;
    const auto now = sys_clock::now();
    if (auto plain = open_value(r.elements[0], n.token)) {
        v.token = decode_token(*plain, now);
        if (v.token && !settings_.share_refresh_tokens)
            v.token->refresh_token.clear();
    }
    if (auto plain = open_value(r.elements[1], n.retry_after))
        v.failure = decode_failure(*plain, now);
    v.locked = !r.elements[2].is_nil();
    co_return v;
}

asio::awaitable<fleet_store::lock_result> fleet_store::try_lock(const fleet_names& n, const std::string& owner)
{
    auto set = lock_command(n, owner, settings_.lock_ttl);
    auto [ec, r] = co_await command(std::move(set));
    if (!ec)
        co_return r.type == redis_reply::kind::status ? lock_result::won : lock_result::lost;
    // A SET that was sent may still run after its caller left or timed out:
    // a lock nobody knows the owner of would hold the fleet for lock_ttl.
    if (ec != error::fleet_breaker_open)
        release(n, owner);
    co_return lock_result::failed;
}

std::atomic<std::uint64_t>& fleet_store::news_of(const std::string& digest) const noexcept
{
    return news_[std::hash<std::string>{}(digest) % news_.size()];
}

std::uint64_t fleet_store::news_mark(const fleet_names& n) const noexcept { return news_of(n.digest).load(); }

asio::awaitable<void> fleet_store::wait_for_news(const fleet_names& n, std::uint64_t mark, std::chrono::milliseconds d)
{
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(ex, d);
    std::multimap<std::string, std::function<void()>>::iterator it;
    {
        std::lock_guard lock(mtx_);
        it = watchers_.emplace(n.digest, [timer, ex] { asio::post(ex, [timer] { timer->cancel(); }); });
    }
    // Registered first, checked second: heard() counts before it reads the
    // watchers, so news is either seen here or wakes the timer.
    if (news_of(n.digest).load() == mark)
        co_await timer->async_wait(awaitable_tuple);
    std::lock_guard lock(mtx_);
    watchers_.erase(it);
}

void fleet_store::share(const cache_key& key, const shared_token& t, bool drop_others, const std::string& owner)
{
    const auto n = names_for(settings_.key_prefix, key);
    const auto now = sys_clock::now();
    shared_token copy = t;
    if (!settings_.share_refresh_tokens)
        copy.refresh_token.clear();
    const auto sealed = seal(ring_, encode_token(copy), n.token);
    send({"SET", n.token, sealed, "PX", millis(until(t.times.usable_until, now))}, metric::fleet_stored);
    send({"PUBLISH", channel_, ready_message(n.digest)});
    if (drop_others)
        send({"PUBLISH", channel_, drop_message(instance_, key)});
    if (!owner.empty())
        release(n, owner);
}

void fleet_store::share_failure(const cache_key& key, const shared_failure& f, const std::string& owner)
{
    const auto n = names_for(settings_.key_prefix, key);
    const auto sealed = seal(ring_, encode_failure(f), n.retry_after);
    send({"SET", n.retry_after, sealed, "PX", millis(until(f.until, sys_clock::now()))});
    send({"PUBLISH", channel_, ready_message(n.digest)});
    if (!owner.empty())
        release(n, owner);
}

void fleet_store::release(const fleet_names& n, const std::string& owner)
{
    send({"EVAL", release_script, "1", n.lock, owner});
}

void fleet_store::invalidate(const cache_key& key)
{
    const auto n = names_for(settings_.key_prefix, key);
    send({"DEL", n.token});
    send({"PUBLISH", channel_, drop_message(instance_, key)});
}

} // namespace tetrapak::detail
