// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "token_job.hpp"

#include "retry_policy.hpp"
#include "service_impl.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/dispatch.hpp>

namespace tetrapak::detail {
namespace asio = boost::asio;
using boost::system::error_code;
using access = diagnostics_access;

namespace {
bool needs_discovery(const auth_config& cfg)
{
    return cfg.token_endpoint.empty() && !cfg.discovery_document_url.empty();
}

/// The Basic forms of a fetch built from `cfg` (the resolved configuration).
basic_forms basic_forms_of(const auth_config& cfg, const basic_form_memo& memo)
{
    basic_forms b;
    b.alternative = basic_alternative(cfg);
    b.raw_first = b.alternative && memo.raw_works(cfg.token_endpoint, cfg.client_id);
    return b;
}
} // namespace

token_job::token_job(std::shared_ptr<service_impl> svc, fetch_request req)
    : exchange_flight(svc->ex, req.background), svc_(std::move(svc)), req_(std::move(req)),
      fsm_(req_.cfg->retry, needs_discovery(*req_.cfg), !req_.refresh_token.empty()), timer_(strand_)
{
}

token_job::~token_job() = default;

std::shared_ptr<token_job> token_job::make(std::shared_ptr<service_impl> svc, fetch_request req)
{
    return std::make_shared<token_job>(std::move(svc), std::move(req));
}

std::shared_ptr<token_job> token_job::self() { return std::static_pointer_cast<token_job>(shared_from_this()); }

void token_job::start()
{
    asio::dispatch(strand_, [self = self()] {
        self->began_ = std::chrono::steady_clock::now();
        if (self->shares_with_fleet())
            self->consult_fleet();
        else
            self->begin_fetch();
    });
}

void token_job::begin_fetch()
{
    token_event ev{token_event::kind::start};
    if (!needs_discovery(*req_.cfg)) {
        resolved_ = req_.cfg;
        ev.basic = basic_forms_of(*resolved_, svc_->basic_forms);
    }
    run(ev);
}

void token_job::run(token_event ev)
{
    for (;;) {
        ev.cancelled = stopped_;
        auto next = perform(fsm_.resume(ev));
        if (!next)
            return;
        ev = *next;
    }
}

std::optional<token_event> token_job::perform(const token_action& a)
{
    switch (a.what) {
    case token_action::kind::discover: discover(); break;
    case token_action::kind::send: return send(a);
    case token_action::kind::wait: wait(a); break;
    case token_action::kind::succeed: store_and_finish(a); break;
    case token_action::kind::fail: fail_and_finish(a); break;
    }
    return std::nullopt;
}

void token_job::discover()
{
    trace_discovery(false);
    svc_->discovery.get(svc_, req_.cfg, &diag_, on_strand([self = self()](error_code ec, server_metadata md) {
                            self->discovered(ec, std::move(md));
                        }));
}

void token_job::discovered(error_code ec, server_metadata md)
{
    trace_discovery(true, ec);
    if (ec && ec != asio::error::operation_aborted)
        access::client_message(diag_) = "discovery: " + std::string(diag_.client_message());
    if (!ec) {
        auto resolved = std::make_shared<auth_config>(*req_.cfg);
        if (req_.cfg->auth_method_from_discovery) {
            auto m = choose_auth_method(md.token_endpoint_auth_methods_supported, *req_.cfg);
            if (m) {
                resolved->auth_method = *m;
            } else {
                diag_.clear();
                access::client_message(diag_) = "no token_endpoint_auth_methods_supported entry fits this configuration";
                ec = error::unsupported_auth_method;
            }
        }
        resolved->token_endpoint = token_endpoint_for(md, resolved->auth_method);
        resolved_ = std::move(resolved);
    }
    token_event ev{token_event::kind::discovered, ec, &diag_};
    if (!ec)
        ev.basic = basic_forms_of(*resolved_, svc_->basic_forms);
    run(ev);
}

/// One attempt: a new request each time (a fresh client assertion).
std::optional<token_event> token_job::send(const token_action& a)
{
    if (a.drop_refresh_token)
        svc_->tokens.with_shard(req_.key, [&](token_store::shard& s) { s.cache.drop_refresh_token(req_.key); });
    diag_.clear();
    grant_inputs in;
    in.grant = req_.grant;
    in.subject = &req_.subject;
    if (a.use_refresh_token)
        in.refresh_token = req_.refresh_token;
    in.raw_basic_credentials = a.raw_basic;
    const auto ep = svc_->token_endpoint.get(*resolved_);
    in.token_endpoint = ep.get();
    auto req = build_token_request(*resolved_, in, diag_);
    if (!req)
        return token_event{token_event::kind::answered, req.error(), &diag_};
    auto x = std::make_shared<http_exchange>(svc_->transport, req->endpoint, svc_->limits_for(*resolved_), true);
    x->request = make_request(boost::beast::http::verb::post, req->endpoint, req->fields, std::move(req->body));
    if (resolved_->dpop.enabled) {
        dpop_key_ = svc_->dpop_key_for(*resolved_);
        x->dpop = dpop_binding{dpop_key_, {}};
    }
    run_exchange(std::move(x));
    return std::nullopt;
}

void token_job::exchange_done(error_code ec)
{
    sent_at_ = x_->sent_at;
    if (ec) {
        diag_ = x_->diag;
    } else {
        x_->trace(step::parse, false);
        parse_options popts{x_->sent_at, resolved_->default_lifetime};
        if (dpop_key_)
            popts.dpop_jkt = dpop_key_->thumbprint();
        auto token = parse_token_response(view_of(x_->response()), popts, diag_);
        x_->release(); // free the body before completing
        if (token && token->is_expired(std::chrono::system_clock::now())) {
            // e.g. expires_in 0: never handed out, never cached
            access::client_message(diag_) = "the token endpoint issued a token that had already expired";
            ec = error::invalid_expires_in;
        } else if (token) {
            token_ = std::move(*token);
        } else {
            ec = token.error();
        }
        x_->trace(step::parse, true, ec);
    }
    token_event ev{token_event::kind::answered, ec, &diag_, random_unit()};
    ev.dpop_nonce = x_->dpop_nonce_received();
    run(ev);
}

void token_job::wait(const token_action& a)
{
    svc_->report(metric::retry, a.ec, a.delay);
    timer_.expires_after(a.delay);
    timer_.async_wait(on_strand([self = self()](error_code) { self->run(token_event{token_event::kind::waited}); }));
}

void token_job::store_and_finish(const token_action& a)
{
    if (a.remember_basic)
        svc_->basic_forms.remember(resolved_->token_endpoint, resolved_->client_id, a.raw_basic);
    const auto now = std::chrono::system_clock::now();
    const auto& cs = req_.cfg->cache;
    std::optional<sys_clock::time_point> subject_exp;
    if (req_.grant == grant_type::token_exchange)
        subject_exp = req_.subject.expires_at();
    std::optional<token_times> times;
    if (cs.enabled)
        times = token_lifetime(token_, sent_at_, subject_exp, cs, random_unit());
    std::string rt(token_.refresh_token().value_or(std::string_view()));
    if (rt.empty() && !fsm_.refresh_token_refused())
        rt = req_.refresh_token; // RFC 6749 §6: the old one stays valid when no new one is issued
    svc_->tokens.with_shard(req_.key, [&](token_store::shard& s) {
        if (times) {
            s.cache.store(req_.key, token_, *times, rt);
        } else if (req_.background) {
            s.cache.renewal_failed(req_.key, now, now);
        }
        s.sweep_now_and_then(now);
        s.forget(req_.key, this);
    });
    share_token(times ? &*times : nullptr, rt);
    svc_->report(metric::fetch, {}, std::chrono::steady_clock::now() - began_);
    if (req_.background)
        svc_->report(metric::renewal_succeeded);
    const auto token = std::move(token_);
    finish({}, {}, token);
}

void token_job::fail_and_finish(const token_action& a)
{
    const auto now = std::chrono::system_clock::now();
    const bool aborted = a.ec == asio::error::operation_aborted;
    if (a.diag)
        diag_ = *a.diag; // the failure reported is not the last step's (both Basic forms refused)
    if (aborted)
        diag_.clear();
    svc_->tokens.with_shard(req_.key, [&](token_store::shard& s) {
        if (a.retry_after)
            s.cache.block(req_.key, now + *a.retry_after, remembered_failure{a.ec, diag_});
        // Stale-if-error: a renewal that failed is tried again later while the token is served.
        if (req_.background)
            s.cache.renewal_failed(req_.key, now,
                                   now + a.retry_after.value_or(std::chrono::seconds(0)) + std::chrono::seconds(5));
        s.forget(req_.key, this);
    });
    share_failure(a);
    if (!aborted)
        svc_->report(req_.background ? metric::renewal_failed : metric::failure, a.ec);
    finish(a.ec, diag_, {});
}

void token_job::trace_discovery(bool finished, error_code ec)
{
    const auto& hook = svc_->transport->trace;
    if (!hook)
        return;
    auto now = std::chrono::steady_clock::now();
    if (!finished)
        discovery_began_ = now;
    hook(trace_event{step::discover, finished, ec, finished ? now - discovery_began_ : std::chrono::steady_clock::duration{}});
}

} // namespace tetrapak::detail
