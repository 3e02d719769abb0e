// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_TOKEN_FSM_HPP
#define TETRAPAK_LIB_SERVICE_TOKEN_FSM_HPP

// The sequencing of one token fetch, without I/O: discovery -> send (build,
// exchange, parse) -> [DPoP nonce retry | refresh-token fallback | other Basic
// credentials form | backoff wait -> send ...] -> succeed or fail. The driver (token_job) feeds it what happened and performs
// the action it returns; cancellation is one flag on every event, so no step
// of the driver checks for it on its own. Tested from tables in
// test/unit/token_fsm.cpp.

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <optional>

namespace tetrapak::detail {

/// The client_secret_basic forms of a fetch (basic_credentials_encoding::automatic).
struct basic_forms {
    /// The raw form differs from the RFC 6749 one, so a refusal of the client
    /// is answered once with the other form.
    bool alternative = false;
    /// Send the raw form first (it is the one remembered for the token
    /// endpoint and client id). Read only with `alternative`.
    bool raw_first = false;
};

/// True when a fetch with `cfg` (resolved: after discovery) has the other
/// Basic form to fall back on: client_secret_basic, encoding automatic, and
/// the raw form differs from the RFC 6749 one.
bool basic_alternative(const auth_config& cfg) noexcept;

/// The server refused the client: invalid_client (at any status), or HTTP
/// 401/403 without an OAuth error (error::client_refused).
bool is_client_refusal(boost::system::error_code ec) noexcept;

/// What happened (fed to token_fsm::resume).
struct token_event {
    enum class kind {
        start,      ///< the job begins
        discovered, ///< the discovery document arrived (ec: why not)
        answered,   ///< an attempt ended: ec is the transport, build or parse failure, or success
        waited,     ///< the backoff wait ended
    };
    explicit token_event(kind k = kind::start, boost::system::error_code e = {}, const diagnostics* d = nullptr,
                         double random = 0) noexcept
        : what(k), ec(e), diag(d), random01(random)
    {
    }

    kind what;
    boost::system::error_code ec;
    const diagnostics* diag; ///< answered: what the server said (may be null)
    bool cancelled = false;            ///< the job was told to stop before this resume
    /// answered: the answer carried a DPoP-Nonce (kept by the transport for the next proof)
    bool dpop_nonce = false;
    double random01;                   ///< answered: the jitter sample for a backoff
    /// start (without discovery) and discovered: the Basic forms for the
    /// configuration the requests are built from.
    basic_forms basic{};
};

/// What the driver does next.
struct token_action {
    enum class kind {
        discover, ///< fetch the discovery document, then feed `discovered`
        send,     ///< build a new request (a fresh client assertion), exchange, parse; feed `answered`
        wait,     ///< wait `delay`, then feed `waited` (a retry: report it with `ec`)
        succeed,  ///< store the parsed token and hand it to every waiter
        fail,     ///< hand `ec` to every waiter
    };
    explicit token_action(kind k) noexcept : what(k) {}

    kind what;
    bool use_refresh_token = false;  ///< send: with the refresh token (RFC 6749 §6)
    bool drop_refresh_token = false; ///< send: the refresh token was refused: forget it in the cache first
    /// send: client_secret_basic in the raw form (grant_inputs::raw_basic_credentials);
    /// succeed: the form that worked.
    bool raw_basic = false;
    /// succeed: remember `raw_basic` for the token endpoint and client id.
    bool remember_basic = false;
    /// fail: report these diagnostics instead of the last step's (both Basic
    /// forms refused: the first refusal's). Points into the token_fsm.
    const diagnostics* diag = nullptr;
    std::chrono::milliseconds delay{}; ///< wait
    boost::system::error_code ec;      ///< fail: the error; wait: the failure being retried
    /// fail: the server's Retry-After, to be honoured for this key (never for a cancellation).
    std::optional<std::chrono::seconds> retry_after;
};

class token_fsm {
public:
    /// `needs_discovery`: the token endpoint comes from the discovery
    /// document. `has_refresh_token`: the first attempt renews with it.
    token_fsm(const retry_settings& retry, bool needs_discovery, bool has_refresh_token) noexcept
        : retry_(retry), needs_discovery_(needs_discovery), refresh_(has_refresh_token)
    {
    }

    token_action resume(const token_event& ev);

    /// Attempts made with the original grant or a refresh token (the refresh
    /// token's refusal and the refusal answered with the other Basic form do
    /// not count).
    int attempts() const noexcept { return attempts_; }
    bool done() const noexcept { return state_ == state::done; }
    /// The server refused the refresh token (so it is not kept for the new token).
    bool refresh_token_refused() const noexcept { return refresh_rejected_; }

private:
    enum class state { initial, discovering, sending, waiting, done };

    token_action send();
    token_action fail(boost::system::error_code ec, const diagnostics* diag);
    token_action on_answer(const token_event& ev);
    void choose_basic(const basic_forms& b) noexcept;
    token_action switch_basic_form(const token_event& ev);
    token_action fail_refused_twice();

    retry_settings retry_;
    bool needs_discovery_;
    bool refresh_;                   ///< the next send uses the refresh token
    bool refresh_rejected_ = false;
    int attempts_ = 0;
    state state_ = state::initial;
    basic_forms basic_;
    bool raw_basic_ = false;     ///< the form the next send uses
    bool basic_switched_ = false; ///< the other form was tried (once per fetch)
    bool nonce_retried_ = false;  ///< use_dpop_nonce was answered with the server's nonce (once per fetch)
    /// The first refusal, reported when the other form is refused too.
    boost::system::error_code refusal_ec_;
    diagnostics refusal_diag_;
};

} // namespace tetrapak::detail

#endif
