// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The token job's part in the fleet: before fetching, look in the shared
// store (and wait for another instance's fetch); after fetching, share the
// token or the server's Retry-After and release the lock. The decisions are
// fleet_plan's; this is the Asio side.

#include "service_impl.hpp"
#include "token_job.hpp"

#include "../fleet/fleet_plan.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

namespace tetrapak::detail {
namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

struct fleet_outcome {
    fleet_step step = fleet_step::fetch_alone;
    std::optional<shared_token> token;
    std::optional<shared_failure> failure;
    std::string owner;         ///< the lock this job holds, when it won it
    steady::duration waited{}; ///< how long it waited for another instance
};

namespace {

/// Looks, locks and waits until the fleet has a token, a Retry-After, or
/// leaves the fetch to this job.
asio::awaitable<fleet_outcome> coordinate(std::shared_ptr<fleet_store> store, fleet_names n, bool background)
{
    const auto began = steady::now();
    const auto deadline = began + store->settings().max_wait;
    const auto poll = fleet_poll_interval(store->settings());
    fleet_outcome out;
    for (;;) {
        const auto mark = store->news_mark(n);
        auto v = co_await store->lookup(n);
        const auto now = steady::now();
        out.step = next_fleet_step(v, background, sys_clock::now(), now >= deadline);
        switch (out.step) {
        case fleet_step::adopt:
            out.token = std::move(v.token);
            co_return out;
        case fleet_step::blocked:
            out.failure = std::move(v.failure);
            co_return out;
        case fleet_step::fetch_alone:
            co_return out;
        case fleet_step::lock: {
            auto owner = fleet_store::new_owner();
            const auto got = co_await store->try_lock(n, owner);
            if (got == fleet_store::lock_result::won)
                out.owner = std::move(owner);
            if (got != fleet_store::lock_result::lost || steady::now() >= deadline) {
                out.step = fleet_step::fetch_alone; // won (holding the lock), or Redis would not say
                co_return out;
            }
            break; // another instance won it: look again
        }
        case fleet_step::wait:
            co_await store->wait_for_news(
                n, mark, std::min(poll, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
            out.waited = steady::now() - began;
            break;
        }
        const auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            co_return fleet_outcome{}; // the job stops: its fetch sees that at once
    }
}

} // namespace

bool token_job::shares_with_fleet() const noexcept { return svc_->fleet && fleet_shares(*req_.cfg); }

void token_job::consult_fleet()
{
    if (req_.forced) { // the caller wants a new token: fetch, then tell the others to drop theirs
        begin_fetch();
        return;
    }
    asio::co_spawn(strand_, coordinate(svc_->fleet, names_for(svc_->fleet->settings().key_prefix, req_.key),
                                       req_.background),
                   on_strand([self = self()](std::exception_ptr e, fleet_outcome o) {
                       self->fleet_decided(e ? fleet_outcome{} : std::move(o));
                   }));
}

void token_job::fleet_decided(fleet_outcome o)
{
    if (o.waited != steady::duration{})
        svc_->report(metric::fleet_waited, {}, o.waited);
    switch (o.step) {
    case fleet_step::adopt:
        adopt_shared(o);
        return;
    case fleet_step::blocked: {
        token_action a{token_action::kind::fail};
        a.ec = o.failure->failure.ec;
        diag_ = o.failure->failure.diag;
        a.retry_after = std::chrono::ceil<std::chrono::seconds>(o.failure->until - sys_clock::now());
        diagnostics_access::retry_after(diag_) = a.retry_after; // as if this instance had been told
        fail_and_finish(a);
        return;
    }
    default:
        lock_owner_ = std::move(o.owner);
        begin_fetch();
    }
}

void token_job::adopt_shared(const fleet_outcome& o)
{
    const auto& shared = *o.token;
    svc_->tokens.with_shard(req_.key, [&](token_store::shard& s) {
        s.cache.store(req_.key, shared.token, shared.times,
                      shared.refresh_token.empty() ? req_.refresh_token : shared.refresh_token);
        s.forget(req_.key, this);
    });
    svc_->report(metric::fleet_hit);
    if (req_.background)
        svc_->report(metric::renewal_succeeded);
    finish({}, {}, shared.token);
}

void token_job::share_token(const token_times* times, const std::string& refresh_token)
{
    if (!shares_with_fleet())
        return;
    auto& fleet = *svc_->fleet;
    if (times)
        fleet.share(req_.key, shared_token{token_, *times, refresh_token}, req_.forced, lock_owner_);
    else if (!lock_owner_.empty())
        fleet.release(names_for(fleet.settings().key_prefix, req_.key), lock_owner_);
    lock_owner_.clear();
}

void token_job::share_failure(const token_action& a)
{
    if (!shares_with_fleet())
        return;
    auto& fleet = *svc_->fleet;
    const bool fetched = sent_at_ != sys_clock::time_point{}; // not a Retry-After read from the fleet
    if (fetched && a.retry_after && *a.retry_after > std::chrono::seconds(0))
        fleet.share_failure(req_.key, shared_failure{remembered_failure{a.ec, diag_}, sys_clock::now() + *a.retry_after},
                            lock_owner_);
    else if (!lock_owner_.empty())
        fleet.release(names_for(fleet.settings().key_prefix, req_.key), lock_owner_);
    lock_owner_.clear();
}

} // namespace tetrapak::detail
