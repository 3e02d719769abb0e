// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "token_fsm.hpp"

#include "retry_policy.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/error.hpp>

namespace tetrapak::detail {

namespace {
/// The driver fed an event the state does not expect (a bug in the driver,
/// caught by the table tests): the job ends instead of going on confused.
boost::system::error_code unexpected_event()
{
    return make_error_code(boost::system::errc::state_not_recoverable);
}
} // namespace

token_action token_fsm::send()
{
    state_ = state::sending;
    ++attempts_;
    token_action a{token_action::kind::send};
    a.use_refresh_token = refresh_;
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
        return token_action{token_action::kind::succeed};
    }
    if (ev.ec == boost::asio::error::operation_aborted)
        return fail(ev.ec, nullptr);
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
        if (needs_discovery_) {
            state_ = state::discovering;
            return token_action{token_action::kind::discover};
        }
        return send();
    case state::discovering:
        if (ev.what != k::discovered)
            break;
        return ev.ec ? fail(ev.ec, ev.diag) : send();
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
