// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_TOKEN_JOB_HPP
#define TETRAPAK_LIB_SERVICE_TOKEN_JOB_HPP

// The Asio driver of token_fsm: performs the actions (discovery, an exchange,
// a backoff wait, the cache store) and feeds back what happened.

#include "exchange_flight.hpp"
#include "token_fsm.hpp"

#include "../cache/token_cache.hpp"

#include <tetrapak/actor_token.hpp>

#include <boost/asio/steady_timer.hpp>

#include <optional>

namespace tetrapak::detail {

struct service_impl;

/// Everything one fetch is for.
struct fetch_request {
    std::shared_ptr<const auth_config> cfg;
    grant_type grant = grant_type::client_credentials;
    actor_token subject;
    cache_key key;
    std::string refresh_token; ///< renew with it (RFC 6749 §6) when non-empty
    bool background = false;   ///< a refresh-ahead renewal: the result is for the cache
    bool forced = false;       ///< force_authorization: the fleet's copies are dropped too
};

struct fleet_outcome;

/// One token fetch for one cache key, shared by every caller of that key.
class token_job final : public exchange_flight<actor_token> {
public:
    /// A new job (not started). Defined with the job, so that the facade's
    /// translation unit does not instantiate the job's Asio members.
    static std::shared_ptr<token_job> make(std::shared_ptr<service_impl> svc, fetch_request req);

    token_job(std::shared_ptr<service_impl> svc, fetch_request req);
    ~token_job() override;

    /// Begins on the job's strand (never inside this call).
    void start();

private:
    std::shared_ptr<token_job> self();

    /// Feeds `ev` to the state machine and performs its actions until one of
    /// them waits for I/O.
    void run(token_event ev);
    /// Performs `a`; an event when it completed at once, nothing when it waits.
    std::optional<token_event> perform(const token_action& a);

    void discover();
    void discovered(boost::system::error_code ec, server_metadata md);
    std::optional<token_event> send(const token_action& a);
    void exchange_done(boost::system::error_code ec) override;
    void wait(const token_action& a);
    void store_and_finish(const token_action& a);
    void fail_and_finish(const token_action& a);

    void trace_discovery(bool finished, boost::system::error_code ec = {});

    // The fleet's shared store (token_job_fleet.cpp).
    bool shares_with_fleet() const noexcept;
    void begin_fetch();
    void consult_fleet();
    void fleet_decided(fleet_outcome o);
    void adopt_shared(const fleet_outcome& o);
    /// Shares a stored token (`times` null: nothing stored; only the lock is released).
    void share_token(const token_times* times, const std::string& refresh_token);
    void share_failure(const token_action& a);

    std::shared_ptr<service_impl> svc_;
    fetch_request req_;
    token_fsm fsm_;
    std::shared_ptr<const auth_config> resolved_; ///< after discovery
    boost::asio::steady_timer timer_;             ///< backoff
    diagnostics diag_;        ///< what the last failed step said (the failure's diagnostics)
    actor_token token_;       ///< the parsed token, until stored
    std::shared_ptr<const dpop_key> dpop_key_; ///< the proof key of the last request (DPoP on)
    std::chrono::system_clock::time_point sent_at_{};
    std::chrono::steady_clock::time_point discovery_began_{};
    std::chrono::steady_clock::time_point began_{};
    std::string lock_owner_; ///< set while this job holds the fleet's lock for its key
};

} // namespace tetrapak::detail

#endif
