// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "token_fsm.hpp"

#include "retry_policy.hpp"

#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/asio/error.hpp>

#include <string>

namespace tetrapak::detail {

namespace {
/// The driver fed an event the state does not expect (a bug in the driver,
/// caught by the table tests): the job ends instead of going on confused.
boost::system::error_code unexpected_event()
{
    return make_error_code(boost::system::errc::state_not_recoverable);
}
} // namespace

bool basic_alternative(const auth_config& cfg) noexcept
{
    return cfg.auth_method == client_auth_method::client_secret_basic &&
           cfg.basic_credentials == basic_credentials_encoding::automatic &&
           basic_forms_differ(cfg.client_id, cfg.client_secret.reveal());
}

bool is_client_refusal(boost::system::error_code ec) noexcept
{
    return ec == oauth_errc::invalid_client || ec == error::client_refused;
}

token_action token_fsm::send()
{
    state_ = state::sending;
    ++attempts_;
    token_action a{token_action::kind::send};
    a.use_refresh_token = refresh_;
    a.raw_basic = raw_basic_;
    return a;
}

void token_fsm::choose_basic(const basic_forms& b) noexcept
{
    basic_ = b;
    raw_basic_ = b.alternative && b.raw_first;
}

/// The server refused the client: the same request once more with the other
/// Basic form, not counted against the retry budget (it is no retry of a
/// transient failure). The refusal is kept to be reported if that fails too.
token_action token_fsm::switch_basic_form(const token_event& ev)
{
    basic_switched_ = true;
    raw_basic_ = !raw_basic_;
    refusal_ec_ = ev.ec;
    refusal_diag_ = ev.diag ? *ev.diag : diagnostics{};
    --attempts_;
    return send();
}

/// Both forms refused: the user sees the first refusal (the answer to the RFC
/// 6749 form, or to the remembered one), its code and the server's text, with
/// a note that the other form was refused too.
token_action token_fsm::fail_refused_twice()
{
    auto& note = diagnostics_access::client_message(refusal_diag_);
    const bool first_raw = !raw_basic_; // raw_basic_ is the form of the second request
    const std::string both = std::string("client_secret_basic: the ") + (first_raw ? "raw" : "RFC 6749") +
                             " credentials form was refused, then the " + (first_raw ? "RFC 6749" : "raw") +
                             " form too; this is the first refusal";
    note = note.empty() ? both : std::string(note) + "; " + both;
    auto a = fail(refusal_ec_, &refusal_diag_);
    a.diag = &refusal_diag_;
    return a;
}

token_action token_fsm::fail(boost::system::error_code ec, const diagnostics* diag)
{
    state_ = state::done;
    token_action a{token_action::kind::fail};
    a.ec = ec;
    if (diag && ec != boost::asio::error::operation_aborted)
        a.retry_after = diag->retry_after();
    return a;
}

token_action token_fsm::on_answer(const token_event& ev)
{
    if (!ev.ec) {
        state_ = state::done;
        token_action a{token_action::kind::succeed};
        a.raw_basic = raw_basic_;
        a.remember_basic = basic_.alternative;
        return a;
    }
    if (ev.ec == boost::asio::error::operation_aborted)
        return fail(ev.ec, nullptr);
    if (ev.ec == oauth_errc::use_dpop_nonce && ev.dpop_nonce && !nonce_retried_) {
        // RFC 9449 §8: the same request with the server's nonce (a fresh proof
        // and client assertion), once, not counted against the retry budget.
        nonce_retried_ = true;
        --attempts_;
        return send();
    }
    if (ev.ec == oauth_errc::invalid_grant && refresh_ && !refresh_rejected_) {
        // RFC 6749 §6: the refresh token was refused; the original grant, once,
        // and that attempt is not counted against the retry budget.
        refresh_ = false;
        refresh_rejected_ = true;
        --attempts_;
        auto a = send();
        a.drop_refresh_token = true;
        return a;
    }
    if (basic_.alternative && is_client_refusal(ev.ec))
        return basic_switched_ ? fail_refused_twice() : switch_basic_form(ev);
    static const diagnostics none;
    const diagnostics& diag = ev.diag ? *ev.diag : none;
    auto delay = retry_delay(retry_, attempts_, ev.ec, diag, ev.random01);
    if (!delay)
        return fail(ev.ec, &diag);
    state_ = state::waiting;
    token_action a{token_action::kind::wait};
    a.delay = *delay;
    a.ec = ev.ec;
    return a;
}

token_action token_fsm::resume(const token_event& ev)
{
    using k = token_event::kind;
    if (state_ == state::done)
        return fail(unexpected_event(), nullptr); // a driver bug: nothing may follow the end
    if (ev.cancelled)
        return fail(boost::asio::error::operation_aborted, nullptr);
    switch (state_) {
    case state::initial:
        if (ev.what != k::start)
            break;
        if (needs_discovery_) { // the forms come with the discovered endpoint
            state_ = state::discovering;
            return token_action{token_action::kind::discover};
        }
        choose_basic(ev.basic);
        return send();
    case state::discovering:
        if (ev.what != k::discovered)
            break;
        if (ev.ec)
            return fail(ev.ec, ev.diag);
        choose_basic(ev.basic);
        return send();
    case state::sending:
        if (ev.what != k::answered)
            break;
        return on_answer(ev);
    case state::waiting:
        if (ev.what != k::waited)
            break;
        return send();
    case state::done: break;
    }
    return fail(unexpected_event(), nullptr); // an event this state does not expect: a driver bug
}

} // namespace tetrapak::detail
