// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "discovery.hpp"

#include "exchange_flight.hpp"
#include "service_impl.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/dispatch.hpp>

namespace tetrapak::detail {
namespace asio = boost::asio;
using boost::system::error_code;
using access = diagnostics_access;

/// One fetch of a discovery document, shared by every caller that needs it.
class discovery_job final : public exchange_flight<server_metadata> {
public:
    discovery_job(std::shared_ptr<service_impl> svc, std::shared_ptr<const auth_config> cfg, std::string url)
        : exchange_flight(svc->ex), svc_(std::move(svc)), cfg_(std::move(cfg)), url_(std::move(url))
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = std::static_pointer_cast<discovery_job>(shared_from_this())] { self->run(); });
    }

private:
    void run()
    {
        diagnostics diag;
        if (stopped_) {
            finish(asio::error::operation_aborted, diag, {});
            return;
        }
        auto ep = parse_endpoint(url_, cfg_->allow_insecure_http_on_loopback, diag);
        if (!ep) {
            access::client_message(diag) = "discovery_document_url: " + std::string(diag.client_message());
            finish(error::config_bad_url, diag, {});
            return;
        }
        auto x = std::make_shared<http_exchange>(svc_->transport, *ep, svc_->limits_for(*cfg_), false);
        x->request = make_request(boost::beast::http::verb::get, *ep,
                                  {{"Accept", "application/json"}, {"User-Agent", cfg_->user_agent}}, {});
        run_exchange(std::move(x));
    }

    void exchange_done(error_code ec) override
    {
        diagnostics diag;
        if (stopped_)
            ec = asio::error::operation_aborted;
        if (ec) {
            if (ec != asio::error::operation_aborted) {
                diag = x_->diag;
                if (diag.client_message().empty())
                    access::client_message(diag) = "fetching the discovery document: " + ec.message();
            }
            finish(ec, diag, {});
            return;
        }
        auto md = parse_discovery_document(url_, view_of(x_->response()), cfg_->allow_insecure_http_on_loopback, diag);
        x_->release();
        if (!md) {
            finish(md.error(), diag, {});
            return;
        }
        svc_->discovery.store(url_, *md, std::chrono::steady_clock::now() + cfg_->discovery_ttl);
        finish({}, diag, *md);
    }

    std::shared_ptr<service_impl> svc_;
    std::shared_ptr<const auth_config> cfg_;
    std::string url_;
};

void discovery_cache::store(const std::string& url, const server_metadata& md,
                            std::chrono::steady_clock::time_point expires)
{
    std::lock_guard lock(mtx_);
    auto& e = entries_[url];
    e.metadata = md;
    e.expires = expires;
}

void discovery_cache::get(const std::shared_ptr<service_impl>& svc, const std::shared_ptr<const auth_config>& cfg,
                          diagnostics* diag, handler_of<server_metadata> handler)
{
    auto w = std::make_shared<waiter<server_metadata>>(std::move(handler), diag, svc->ex);
    const std::string& url = cfg->discovery_document_url;
    std::shared_ptr<discovery_job> job;
    std::optional<server_metadata> cached;
    bool start = false;
    {
        std::lock_guard lock(mtx_);
        auto& e = entries_[url];
        if (e.metadata && std::chrono::steady_clock::now() < e.expires) {
            cached = e.metadata;
        } else {
            job = e.job.lock();
            if (!job || !job->add_waiter(w)) { // none, or it finished or was abandoned: start anew
                job = std::make_shared<discovery_job>(svc, cfg, url);
                e.job = job;
                job->add_waiter(w);
                start = true;
            }
        }
    }
    if (cached) {
        watch_cancellation(w);
        complete_waiter<server_metadata>(std::move(w), svc->ex, {}, {}, std::move(*cached));
    } else if (start) {
        job->start();
    }
}

} // namespace tetrapak::detail
