// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// authorized_client: a token from the service, the request with its
// Authorization header (and DPoP proof), the response; after a 401 asking for
// a DPoP nonce, the same token with a proof using it, once; after another
// 401, a forced token and one more request.

#include "dpop_challenge.hpp"

#include "../service/exchange_flight.hpp"
#include "../service/service_impl.hpp"

#include <tetrapak/authorized_client.hpp>
#include <tetrapak/error.hpp>

#include <boost/asio/dispatch.hpp>

#include <functional>

namespace tetrapak {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace detail {
namespace {

using authorize_fn = std::function<void(http_client_options, diagnostics*, handler_of<actor_token>)>;

/// One authorized outgoing request. One caller, so the flight has one waiter.
class send_job final : public exchange_flight<authorized_client::response_type> {
public:
    send_job(std::shared_ptr<service_impl> svc, std::shared_ptr<const client_settings> settings, authorize_fn authorize,
             endpoint ep, authorized_client::request_type request, outgoing_options options)
        : exchange_flight(svc->ex), svc_(std::move(svc)), settings_(std::move(settings)), authorize_(std::move(authorize)),
          ep_(std::move(ep)), request_(std::move(request)), options_(std::move(options))
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = self()] { self->fetch_token(); });
    }

private:
    std::shared_ptr<send_job> self() { return std::static_pointer_cast<send_job>(shared_from_this()); }

    /// The job was stopped (its caller left): true, and the flight finished.
    bool finish_if_stopped()
    {
        if (stopped_)
            finish(asio::error::operation_aborted, {}, {});
        return stopped_;
    }

    void fetch_token()
    {
        if (finish_if_stopped())
            return;
        auto o = options_.authorization;
        if (forced_)
            o.force_authorization = true;
        authorize_(std::move(o), &diag_,
                   on_strand([self = self()](error_code ec, actor_token t) { self->got_token(ec, std::move(t)); }));
    }

    void got_token(error_code ec, actor_token token)
    {
        if (finish_if_stopped())
            return;
        if (ec && ec != error::no_authorization) {
            finish(ec, diag_, {});
            return;
        }
        diag_.clear();
        token_ = std::move(token);
        send();
    }

    /// The request with the token: "DPoP <token>" and a fresh proof for a
    /// DPoP-bound token, "Bearer <token>" and no DPoP header otherwise (RFC
    /// 9449 §7.1: neither scheme ever goes with the other's token).
    void send()
    {
        auto req = request_; // the headers go on this copy only
        req.erase("DPoP");
        std::optional<dpop_binding> dpop;
        if (token_.empty())
            req.erase(http::field::authorization);
        else
            req.set(http::field::authorization, token_.authorization_header());
        if (token_.is_dpop_bound()) {
            const auto& cfg = options_.authorization.auth_config ? *options_.authorization.auth_config : *svc_->config;
            dpop = dpop_binding{svc_->dpop_key_for(cfg), std::string(token_.value())};
        }
        if (!options_.correlation_id.empty() && !settings_->correlation_header.empty())
            req.set(settings_->correlation_header, options_.correlation_id);
        req.target(ep_.target);
        req.set(http::field::host, ep_.url.encoded_host_and_port());
        req.prepare_payload();
        exchange_limits limits{settings_->timeouts, settings_->max_response_size, settings_->max_header_size,
                               svc_->config->tls.insecure_disable_verification_i_know_what_i_am_doing,
                               svc_->config->connections};
        auto x = std::make_shared<http_exchange>(svc_->transport, ep_, limits, false);
        x->request = std::move(req);
        x->dpop = std::move(dpop);
        run_exchange(std::move(x));
    }

    /// A 401 whose DPoP challenge asks for a nonce (RFC 9449 §9) that the
    /// answer carried: the same token again with a proof using it, once.
    bool wants_nonce_retry(const authorized_client::response_type& res) const
    {
        if (nonce_retried_ || !token_.is_dpop_bound() || !x_->dpop_nonce_received())
            return false;
        auto [first, last] = res.equal_range(http::field::www_authenticate);
        for (auto it = first; it != last; ++it)
            if (asks_for_dpop_nonce(it->value()))
                return true;
        return false;
    }

    void exchange_done(error_code ec) override
    {
        if (finish_if_stopped())
            return;
        if (ec) {
            finish(ec, x_->diag, {});
            return;
        }
        authorized_client::response_type res = std::move(x_->response());
        if (res.result() == http::status::unauthorized && wants_nonce_retry(res)) {
            x_->release();
            nonce_retried_ = true;
            send();
            return;
        }
        x_->release();
        if (res.result() == http::status::unauthorized && !token_.empty() && !forced_) {
            forced_ = true; // the token was refused downstream: a new one, once
            fetch_token();
            return;
        }
        finish({}, {}, res);
    }

    std::shared_ptr<service_impl> svc_;
    std::shared_ptr<const client_settings> settings_;
    authorize_fn authorize_;
    endpoint ep_;
    authorized_client::request_type request_;
    outgoing_options options_;
    diagnostics diag_; // written on the strand by the token's completion
    actor_token token_; // the token of the request being sent (empty: grant none)
    bool forced_ = false;
    bool nonce_retried_ = false;
};

} // namespace
} // namespace detail

authorized_client::authorized_client(authorization_service& auth, client_settings settings)
    : auth_(&auth), settings_(std::make_shared<const client_settings>(std::move(settings)))
{
}

authorized_client::executor_type authorized_client::get_executor() const noexcept { return auth_->get_executor(); }

void authorized_client::initiate(std::string url, request_type request, outgoing_options options, diagnostics* diag,
                                 asio::any_completion_handler<completion_signature> handler)
{
    using namespace detail;
    auto impl = auth_->impl_;
    auto w = std::make_shared<waiter<response_type>>(std::move(handler), diag, impl->ex);
    diagnostics d;
    auto ep = parse_endpoint(url, settings_->allow_insecure_http_on_loopback, d);
    if (!ep) {
        complete_waiter<response_type>(std::move(w), impl->ex, ep.error(), std::move(d), {});
        return;
    }
    authorize_fn authorize = [impl](http_client_options o, diagnostics* dg, handler_of<actor_token> h) {
        authorization_service::initiate(impl, std::move(o), dg, std::move(h));
    };
    auto job = std::make_shared<send_job>(impl, settings_, std::move(authorize), std::move(*ep), std::move(request),
                                          std::move(options));
    job->add_waiter(w);
    job->start();
}

} // namespace tetrapak
