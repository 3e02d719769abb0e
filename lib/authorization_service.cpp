// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The asynchronous driver: moves the bytes that protocol.cpp produces and
// consumes. This is the only translation unit that instantiates Asio, Beast
// and OpenSSL stream code.
//
//   authorization_service::initiate
//     -> grant choice (pure)            -> waiter joins a token_job (a flight)
//   token_job: [discovery: waits on a shared discovery_job flight]
//              -> build request (pure) -> http_exchange -> parse (pure) -> every waiter
//
// A flight<T> is one piece of shared work with the callers waiting on it. A
// waiter that is cancelled leaves at once; the work is cancelled only when no
// waiter remains. Issue 4's token cache and single-flight reuse it.

#include <tetrapak/authorization_service.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/coroutine.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace tetrapak {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace detail {
namespace {
class discovery_job;
} // namespace

struct discovery_entry {
    std::optional<server_metadata> metadata;
    std::chrono::steady_clock::time_point expires{};
    std::weak_ptr<discovery_job> job;
};

struct service_impl {
    asio::any_io_executor ex;
    std::unique_ptr<ssl::context> own_tls;
    ssl::context* tls = nullptr;
    std::shared_ptr<const auth_config> config;
    trace_hook trace;
    grant_resolver resolver;

    std::mutex mtx; // guards `discovery`; never held across I/O or handler calls
    std::map<std::string, discovery_entry, std::less<>> discovery;
};

namespace {

using access = diagnostics_access;

std::unique_ptr<ssl::context> make_tls_context(const tls_settings& s)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    error_code ec;
    diagnostics diag;
    if (!s.ca_file.empty()) {
        ctx->load_verify_file(s.ca_file, ec);
        if (ec)
            access::client_message(diag) = "tls.ca_file could not be loaded";
    }
    if (!ec && !s.ca_path.empty()) {
        ctx->add_verify_path(s.ca_path, ec);
        if (ec)
            access::client_message(diag) = "tls.ca_path could not be used";
    }
    if (!ec && s.ca_file.empty() && s.ca_path.empty())
        ctx->set_default_verify_paths(ec);
    if (ec)
        throw error_with_diagnostics(ec, std::move(diag));
    if (!s.client_certificate_file.empty()) { // RFC 8705 mutual TLS
        ctx->use_certificate_chain_file(s.client_certificate_file, ec);
        if (!ec)
            ctx->use_private_key_file(s.client_key_file.empty() ? s.client_certificate_file : s.client_key_file,
                                      ssl::context::pem, ec);
        if (ec) {
            access::client_message(diag) =
                "tls.client_certificate_file / tls.client_key_file could not be loaded or do not match";
            throw error_with_diagnostics(error::key_load_failed, std::move(diag));
        }
    }
    return ctx;
}

// ---------------------------------------------------------------------------
// flight<T>: shared work and its waiters

template <class T>
using handler_of = asio::any_completion_handler<void(error_code, T)>;

/// A caller waiting for a result. Completed exactly once, always through
/// its associated executor.
template <class T>
struct waiter {
    waiter(handler_of<T> h, diagnostics* d, const asio::any_io_executor& fallback)
        : handler(std::move(h)), diag(d),
          work(asio::prefer(asio::get_associated_executor(handler, fallback), asio::execution::outstanding_work.tracked))
    {
    }
    handler_of<T> handler;
    diagnostics* diag;
    /// Keeps the handler's executor (its io_context) running until completion.
    std::optional<asio::associated_executor_t<handler_of<T>, asio::any_io_executor>> work;
    asio::cancellation_slot slot;
    std::atomic<bool> cancelled{false};
};

/// The final step of a waiter, run through the waiter's associated executor
/// (asio::post's work dispatcher takes it there). A cancellation that arrived
/// after the result was known still wins here.
template <class T>
struct waiter_completion {
    std::shared_ptr<waiter<T>> w;
    error_code ec;
    diagnostics diag;
    T value;
    asio::any_io_executor fallback;

    using executor_type = asio::associated_executor_t<handler_of<T>, asio::any_io_executor>;
    executor_type get_executor() const noexcept { return asio::get_associated_executor(w->handler, fallback); }

    void operator()()
    {
        if (w->slot.is_connected())
            w->slot.clear();
        if (w->cancelled.load()) {
            ec = asio::error::operation_aborted;
            value = T{};
            diag.clear();
        }
        if (w->diag)
            *w->diag = std::move(diag);
        auto handler = std::move(w->handler);
        w->work.reset();
        w.reset();
        diag = {};
        std::move(handler)(ec, std::move(value));
    }
};

/// Completes a waiter: never inline, always through its associated executor.
template <class T>
void complete_waiter(std::shared_ptr<waiter<T>> w, const asio::any_io_executor& fallback, error_code ec,
                     diagnostics diag, T value)
{
    auto ex = fallback;
    asio::post(ex, waiter_completion<T>{std::move(w), ec, std::move(diag), std::move(value), fallback});
}

template <class T>
class flight;

/// Installed in a waiter's cancellation slot.
/// Holds only weak references: the flight and a pending completion own the
/// waiter, so no cycle forms through a signal the handler itself owns.
template <class T>
struct waiter_cancel {
    std::weak_ptr<waiter<T>> w;
    std::weak_ptr<flight<T>> f;
    void operator()(asio::cancellation_type type)
    {
        using ct = asio::cancellation_type;
        if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none)
            return;
        auto sw = w.lock();
        if (!sw || sw->cancelled.exchange(true))
            return;
        if (auto fs = f.lock())
            fs->abandon(sw);
    }
};

/// One piece of shared work (a token request, a discovery fetch) and the
/// callers waiting on it. Its I/O runs on its own strand; the waiter list is
/// guarded by a mutex that is never held across I/O or handler calls.
template <class T>
class flight : public std::enable_shared_from_this<flight<T>> {
public:
    explicit flight(asio::any_io_executor ex) : ex_(ex), strand_(asio::make_strand(ex)) {}
    virtual ~flight() = default;

    /// Joins a waiter; false when the flight finished or was abandoned.
    bool add_waiter(const std::shared_ptr<waiter<T>>& w)
    {
        std::lock_guard lock(mtx_);
        if (done_)
            return false;
        w->slot = asio::get_associated_cancellation_slot(w->handler);
        if (w->slot.is_connected())
            w->slot.template emplace<waiter_cancel<T>>(waiter_cancel<T>{w, this->weak_from_this()});
        waiters_.push_back(w);
        return true;
    }

    /// A waiter leaves. When it was the last one, the work is cancelled.
    void abandon(const std::shared_ptr<waiter<T>>& w)
    {
        bool found = false, last = false;
        {
            std::lock_guard lock(mtx_);
            for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                if (*it == w) {
                    waiters_.erase(it);
                    found = true;
                    break;
                }
            }
            last = found && waiters_.empty() && !done_;
            if (last)
                done_ = true; // closed: a later caller starts new work instead of joining cancelled work
        }
        if (!found)
            return; // already handed its result; the completion sees `cancelled`
        complete_waiter<T>(w, ex_, asio::error::operation_aborted, {}, T{});
        if (last)
            asio::post(strand_, [self = this->shared_from_this()] { self->cancel_work(); });
    }

protected:
    /// Hands the result to every waiter.
    void finish(error_code ec, const diagnostics& diag, const T& value)
    {
        std::vector<std::shared_ptr<waiter<T>>> ws;
        {
            std::lock_guard lock(mtx_);
            done_ = true;
            ws.swap(waiters_);
        }
        for (auto& w : ws)
            complete_waiter<T>(std::move(w), ex_, ec, diag, ec ? T{} : value);
    }

    /// Runs on the strand when the last waiter has left.
    virtual void cancel_work() = 0;

    asio::any_io_executor ex_;
    asio::strand<asio::any_io_executor> strand_;

private:
    std::mutex mtx_;
    std::vector<std::shared_ptr<waiter<T>>> waiters_;
    bool done_ = false;
};

// ---------------------------------------------------------------------------
// http_exchange: one HTTP(S) request/response on a new connection

struct exchange_limits {
    tetrapak::timeouts timeouts;
    std::size_t max_body;
    std::size_t max_header;
    bool insecure_skip_verify;
};

class http_exchange {
public:
    http_exchange(asio::strand<asio::any_io_executor> strand, ssl::context& tls, endpoint ep, exchange_limits limits,
                  const trace_hook* trace)
        : ep_(std::move(ep)), limits_(limits), trace_(trace), resolver_(strand), stream_(strand, tls), timer_(strand)
    {
        parser_.emplace();
        parser_->body_limit(limits_.max_body);
        parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header));
    }

    http::request<http::string_body> request;
    diagnostics diag; ///< transport details (TLS verification)
    std::chrono::system_clock::time_point sent_at{};

    http::response<http::string_body>& response() { return parser_->get(); }
    void release() { parser_.reset(); }

    /// Runs resolve -> connect -> handshake -> write -> read; `handler(error_code)`.
    template <class Handler>
    void async_run(Handler&& handler);

    /// Stops what per-operation cancellation cannot reach (the resolver).
    void cancel() { resolver_.cancel(); }

    /// Reports a step to the service's trace hook (if any).
    void trace(step s, bool finished, error_code ec = {})
    {
        auto now = std::chrono::steady_clock::now();
        if (!finished)
            step_start_ = now;
        if (trace_ && *trace_)
            (*trace_)(trace_event{s, finished, ec, finished ? now - step_start_ : std::chrono::steady_clock::duration{}});
    }

private:
    friend struct exchange_op;

    /// Shared between the resolve step and its timer, whose handler may run
    /// after the exchange is gone: it touches the resolver only while
    /// `resolver` is set (both run on the strand).
    struct resolve_guard {
        tcp::resolver* resolver = nullptr;
        bool timed_out = false;
    };

    void arm_resolve_timer(const std::shared_ptr<resolve_guard>& g)
    {
        g->resolver = &resolver_;
        timer_.expires_after(limits_.timeouts.connect);
        timer_.async_wait([g](error_code ec) {
            if (!ec && g->resolver) {
                g->timed_out = true;
                g->resolver->cancel();
            }
        });
    }

    error_code prepare_tls()
    {
        SSL* ssl = stream_.native_handle();
        if (!ep_.host_is_ip && !SSL_set_tlsext_host_name(ssl, ep_.host.c_str()))
            return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        if (limits_.insecure_skip_verify) {
            stream_.set_verify_mode(ssl::verify_none);
            return {};
        }
        stream_.set_verify_mode(ssl::verify_peer);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ep_.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ep_.host.c_str())
                                : X509_VERIFY_PARAM_set1_host(param, ep_.host.c_str(), ep_.host.size());
        return ok ? error_code{} : error_code(error::tls_verification_failed);
    }

    /// Maps what a step returned to what the caller sees.
    error_code translate(step s, error_code ec)
    {
        if (ec == beast::error::timeout) {
            switch (s) {
            case step::resolve:
            case step::connect: return error::connect_timeout;
            case step::handshake: return error::handshake_timeout;
            case step::write: return error::request_timeout;
            case step::read_header: return error::response_header_timeout;
            default: return error::response_body_timeout;
            }
        }
        if (ec == http::error::body_limit)
            return error::response_too_large;
        if (ec == http::error::header_limit)
            return error::header_too_large;
        if (s == step::handshake && ec.category() == asio::error::get_ssl_category()) {
            long verify = SSL_get_verify_result(stream_.native_handle());
            if (verify != X509_V_OK) {
                access::client_message(diag) = std::string("certificate verification: ") + X509_verify_cert_error_string(verify);
                return error::tls_verification_failed;
            }
        }
        return ec;
    }

    endpoint ep_;
    exchange_limits limits_;
    const trace_hook* trace_;
    tcp::resolver resolver_;
    beast::ssl_stream<beast::tcp_stream> stream_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> parser_;
    tcp::resolver::results_type endpoints_;
    std::chrono::steady_clock::time_point step_start_{};
};

/// resolve -> connect -> handshake -> write -> read header -> read body.
/// Checks the cancellation state on every resume.
struct exchange_op {
    http_exchange& x;
    step current = step::resolve;
    std::shared_ptr<http_exchange::resolve_guard> resolve = std::make_shared<http_exchange::resolve_guard>();
    asio::coroutine coro{};

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0)
    {
        resume(self, ec);
    }
    template <class Self>
    void operator()(Self& self, error_code ec, tcp::resolver::results_type results)
    {
        x.endpoints_ = std::move(results);
        resume(self, ec);
    }
    template <class Self>
    void operator()(Self& self, error_code ec, const tcp::endpoint&)
    {
        resume(self, ec);
    }

    void begin(step s)
    {
        current = s;
        x.trace(s, false);
    }

    template <class Self>
    bool failed(Self& self, error_code ec)
    {
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none)
            ec = asio::error::operation_aborted;
        else if (ec)
            ec = x.translate(current, ec);
        x.trace(current, true, ec);
        if (!ec)
            return false;
        beast::get_lowest_layer(x.stream_).close(); // never reused after a failure or cancellation
        self.complete(ec);
        return true;
    }

    template <class Self>
    void resume(Self& self, error_code ec)
    {
        auto& tcp_layer = beast::get_lowest_layer(x.stream_);
        const auto& ep = x.ep_;
        const auto& to = x.limits_.timeouts;
        BOOST_ASIO_CORO_REENTER(coro)
        {
            if (ep.host_is_ip) {
                begin(step::connect);
                tcp_layer.expires_after(to.connect);
                BOOST_ASIO_CORO_YIELD tcp_layer.async_connect(
                    tcp::endpoint(asio::ip::make_address(ep.host), static_cast<unsigned short>(std::stoi(ep.port))),
                    std::move(self));
                if (failed(self, ec))
                    return;
            } else {
                begin(step::resolve);
                x.arm_resolve_timer(resolve);
                BOOST_ASIO_CORO_YIELD x.resolver_.async_resolve(ep.host, ep.port, std::move(self));
                resolve->resolver = nullptr;
                x.timer_.cancel();
                if (resolve->timed_out)
                    ec = beast::error::timeout;
                if (failed(self, ec))
                    return;
                begin(step::connect);
                tcp_layer.expires_after(to.connect);
                BOOST_ASIO_CORO_YIELD tcp_layer.async_connect(x.endpoints_, std::move(self));
                if (failed(self, ec))
                    return;
            }

            if (ep.tls) {
                begin(step::handshake);
                ec = x.prepare_tls();
                if (!ec) {
                    tcp_layer.expires_after(to.handshake);
                    BOOST_ASIO_CORO_YIELD x.stream_.async_handshake(ssl::stream_base::client, std::move(self));
                }
                if (failed(self, ec))
                    return;
            }

            begin(step::write);
            x.sent_at = std::chrono::system_clock::now();
            tcp_layer.expires_after(to.request);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_write(x.stream_, x.request, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_write(tcp_layer, x.request, std::move(self));
            if (failed(self, ec))
                return;

            begin(step::read_header);
            tcp_layer.expires_after(to.response_header);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read_header(x.stream_, x.buffer_, *x.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read_header(tcp_layer, x.buffer_, *x.parser_, std::move(self));
            if (failed(self, ec))
                return;

            begin(step::read_body);
            tcp_layer.expires_after(to.response_body);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read(x.stream_, x.buffer_, *x.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read(tcp_layer, x.buffer_, *x.parser_, std::move(self));
            if (failed(self, ec))
                return;
            tcp_layer.expires_never();
            tcp_layer.close(); // one request per connection in this version
            self.complete(error_code{});
        }
    }
};

template <class Handler>
void http_exchange::async_run(Handler&& handler)
{
    asio::async_compose<Handler, void(error_code)>(exchange_op{*this}, handler, resolver_.get_executor());
}

exchange_limits limits_of(const auth_config& cfg)
{
    return {cfg.timeouts, cfg.max_response_size, cfg.max_header_size,
            cfg.tls.insecure_disable_verification_i_know_what_i_am_doing};
}

http::request<http::string_body> make_request(http::verb method, const endpoint& ep,
                                              const std::vector<http_field>& fields, std::string body)
{
    http::request<http::string_body> req;
    req.method(method);
    req.target(ep.target);
    req.version(11);
    req.set(http::field::host, ep.url.encoded_host_and_port());
    for (auto& f : fields)
        req.set(f.name, f.value);
    if (method == http::verb::post)
        req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

http_response_view view_of(http::response<http::string_body>& res)
{
    return {res.result_int(), res.body(), res[http::field::retry_after], res[http::field::www_authenticate]};
}

/// A flight whose work is one http_exchange, cancelled with a signal.
template <class T>
class http_flight : public flight<T> {
protected:
    using flight<T>::flight;

    void cancel_work() override
    {
        stopped_ = true; // remembered for the steps that have not started yet
        cancel_.emit(asio::cancellation_type::terminal);
        if (x_)
            x_->cancel();
    }

    /// True (and the flight finished) when the work was cancelled before a step.
    bool stopped()
    {
        if (stopped_)
            this->finish(asio::error::operation_aborted, {}, T{});
        return stopped_;
    }

    std::optional<http_exchange> x_;
    asio::cancellation_signal cancel_;
    bool stopped_ = false; // strand only
};

// ---------------------------------------------------------------------------
// discovery

void get_metadata(const std::shared_ptr<service_impl>& svc, const std::shared_ptr<const auth_config>& cfg,
                  diagnostics* diag, handler_of<server_metadata> handler);

/// One fetch of a discovery document, shared by every caller that needs it.
class discovery_job final : public http_flight<server_metadata> {
public:
    discovery_job(std::shared_ptr<service_impl> svc, std::shared_ptr<const auth_config> cfg, std::string url)
        : http_flight(svc->ex), svc_(std::move(svc)), cfg_(std::move(cfg)), url_(std::move(url))
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = std::static_pointer_cast<discovery_job>(shared_from_this())] { self->run(); });
    }

private:
    void run()
    {
        if (stopped())
            return;
        diagnostics diag;
        auto ep = parse_endpoint(url_, cfg_->allow_insecure_http_on_loopback, diag);
        if (!ep) {
            access::client_message(diag) = "discovery_document_url: " + std::string(diag.client_message());
            finish(error::config_bad_url, diag, {});
            return;
        }
        x_.emplace(strand_, *svc_->tls, *ep, limits_of(*cfg_), nullptr);
        x_->request = make_request(http::verb::get, *ep, {{"Accept", "application/json"}, {"User-Agent", cfg_->user_agent}}, {});
        auto self = std::static_pointer_cast<discovery_job>(shared_from_this());
        x_->async_run(asio::bind_cancellation_slot(cancel_.slot(), [self](error_code ec) { self->done(ec); }));
    }

    void done(error_code ec)
    {
        diagnostics diag;
        if (ec) {
            diag = x_->diag;
            if (ec != asio::error::operation_aborted && diag.client_message().empty())
                access::client_message(diag) = "fetching the discovery document: " + ec.message();
            finish(ec, diag, {});
            return;
        }
        auto md = parse_discovery_document(url_, view_of(x_->response()), cfg_->allow_insecure_http_on_loopback, diag);
        x_->release();
        if (!md) {
            finish(md.error(), diag, {});
            return;
        }
        {
            std::lock_guard lock(svc_->mtx);
            auto& e = svc_->discovery[url_];
            e.metadata = *md;
            e.expires = std::chrono::steady_clock::now() + cfg_->discovery_ttl;
        }
        finish({}, diag, *md);
    }

    std::shared_ptr<service_impl> svc_;
    std::shared_ptr<const auth_config> cfg_;
    std::string url_;
};

void get_metadata(const std::shared_ptr<service_impl>& svc, const std::shared_ptr<const auth_config>& cfg,
                  diagnostics* diag, handler_of<server_metadata> handler)
{
    auto w = std::make_shared<waiter<server_metadata>>(std::move(handler), diag, svc->ex);
    const std::string& url = cfg->discovery_document_url;
    for (;;) {
        std::shared_ptr<discovery_job> job;
        std::optional<server_metadata> cached;
        bool start = false;
        {
            std::lock_guard lock(svc->mtx);
            auto& e = svc->discovery[url];
            if (e.metadata && std::chrono::steady_clock::now() < e.expires) {
                cached = e.metadata;
            } else {
                job = e.job.lock();
                if (!job) {
                    job = std::make_shared<discovery_job>(svc, cfg, url);
                    e.job = job;
                    start = true;
                }
            }
        }
        if (cached) {
            complete_waiter<server_metadata>(std::move(w), svc->ex, {}, {}, std::move(*cached));
            return;
        }
        if (job->add_waiter(w)) {
            if (start)
                job->start();
            return;
        }
        // that fetch finished or was abandoned between the lookup and the join:
        // forget it, so the next round starts a new one (or finds the cached result)
        std::lock_guard lock(svc->mtx);
        auto& e = svc->discovery[url];
        if (e.job.lock() == job)
            e.job.reset();
    }
}

// ---------------------------------------------------------------------------
// token_job

/// One token request: [discovery] -> build -> exchange -> parse.
class token_job final : public http_flight<actor_token> {
public:
    token_job(std::shared_ptr<service_impl> svc, std::shared_ptr<const auth_config> cfg, grant_type grant,
              actor_token subject)
        : http_flight(svc->ex), svc_(std::move(svc)), cfg_(std::move(cfg)), grant_(grant), subject_(std::move(subject))
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = std::static_pointer_cast<token_job>(shared_from_this())] {
            if (self->cfg_->token_endpoint.empty() && !self->cfg_->discovery_document_url.empty())
                self->discover();
            else
                self->send(*self->cfg_);
        });
    }

private:
    std::shared_ptr<token_job> self() { return std::static_pointer_cast<token_job>(shared_from_this()); }

    void discover()
    {
        if (stopped())
            return;
        trace(step::discover, false);
        get_metadata(svc_, cfg_, &discovery_diag_,
                     asio::bind_executor(strand_, asio::bind_cancellation_slot(
                                                      cancel_.slot(), [self = self()](error_code ec, server_metadata md) {
                                                          self->discovered(ec, std::move(md));
                                                      })));
    }

    void discovered(error_code ec, server_metadata md)
    {
        trace(step::discover, true, ec);
        if (stopped())
            return;
        if (ec) {
            diagnostics diag = std::move(discovery_diag_);
            if (ec != asio::error::operation_aborted)
                access::client_message(diag) = "discovery: " + std::string(diag.client_message());
            finish(ec, diag, {});
            return;
        }
        auto resolved = *cfg_;
        resolved.token_endpoint = md.token_endpoint;
        if (cfg_->auth_method_from_discovery) {
            auto m = choose_auth_method(md.token_endpoint_auth_methods_supported, *cfg_);
            if (!m) {
                diagnostics diag;
                access::client_message(diag) = "no token_endpoint_auth_methods_supported entry fits this configuration";
                finish(error::unsupported_auth_method, diag, {});
                return;
            }
            resolved.auth_method = *m;
        }
        send(resolved);
    }

    void send(const auth_config& cfg)
    {
        if (stopped())
            return;
        diagnostics diag;
        grant_inputs in;
        in.grant = grant_;
        in.subject = &subject_;
        auto req = build_token_request(cfg, in, diag); // a new client assertion on every attempt
        if (!req) {
            finish(req.error(), diag, {});
            return;
        }
        x_.emplace(strand_, *svc_->tls, req->endpoint, limits_of(cfg), &svc_->trace);
        x_->request = make_request(http::verb::post, req->endpoint, req->fields, std::move(req->body));
        x_->async_run(asio::bind_cancellation_slot(cancel_.slot(), [self = self()](error_code ec) { self->received(ec); }));
    }

    void received(error_code ec)
    {
        if (ec) {
            finish(ec, x_->diag, {});
            return;
        }
        x_->trace(step::parse, false);
        diagnostics diag;
        parse_options popts{x_->sent_at, cfg_->default_lifetime};
        auto token = parse_token_response(view_of(x_->response()), popts, diag);
        x_->release(); // free the body before completing
        x_->trace(step::parse, true, token ? error_code{} : token.error());
        if (token)
            finish({}, diag, *token);
        else
            finish(token.error(), diag, {});
    }

    void trace(step s, bool finished, error_code ec = {})
    {
        auto now = std::chrono::steady_clock::now();
        if (!finished)
            discover_start_ = now;
        if (svc_->trace)
            svc_->trace(trace_event{s, finished, ec, finished ? now - discover_start_ : std::chrono::steady_clock::duration{}});
    }

    std::shared_ptr<service_impl> svc_;
    std::shared_ptr<const auth_config> cfg_;
    grant_type grant_;
    actor_token subject_;
    diagnostics discovery_diag_; // written on the strand by the discovery waiter's completion
    std::chrono::steady_clock::time_point discover_start_{};
};

} // namespace
} // namespace detail

authorization_service::authorization_service(executor_type ex, auth_config config)
    : impl_(std::make_shared<detail::service_impl>())
{
    impl_->ex = std::move(ex);
    impl_->own_tls = detail::make_tls_context(config.tls);
    impl_->tls = impl_->own_tls.get();
    impl_->config = std::make_shared<const auth_config>(std::move(config));
}

authorization_service::authorization_service(executor_type ex, ssl::context& tls, auth_config config)
    : impl_(std::make_shared<detail::service_impl>())
{
    impl_->ex = std::move(ex);
    impl_->tls = &tls;
    impl_->config = std::make_shared<const auth_config>(std::move(config));
}

authorization_service::authorization_service(authorization_service&&) noexcept = default;
authorization_service& authorization_service::operator=(authorization_service&&) noexcept = default;
authorization_service::~authorization_service() = default;

authorization_service::executor_type authorization_service::get_executor() const noexcept { return impl_->ex; }

authorization_service::executor_type authorization_service::executor_of(const detail::service_impl& impl) noexcept
{
    return impl.ex;
}

const auth_config& authorization_service::config() const noexcept { return *impl_->config; }

void authorization_service::set_trace(trace_hook hook) { impl_->trace = std::move(hook); }

void authorization_service::set_grant_resolver(grant_resolver resolver) { impl_->resolver = std::move(resolver); }

void authorization_service::initiate(const std::shared_ptr<detail::service_impl>& impl_, http_client_options options,
                                     diagnostics* diag, asio::any_completion_handler<completion_signature> handler)
{
    auto cfg = options.auth_config ? std::move(options.auth_config) : impl_->config;
    auto w = std::make_shared<detail::waiter<actor_token>>(std::move(handler), diag, impl_->ex);

    diagnostics d;
    auto grant = impl_->resolver ? impl_->resolver(*cfg, options, d) : resolve_grant(cfg->grant, options.actor_token, d);
    if (grant && cfg->token_endpoint.empty() && cfg->discovery_document_url.empty()) {
        detail::diagnostics_access::client_message(d) = "auth_config.token_endpoint and discovery_document_url are empty";
        grant = error::missing_token_endpoint;
    }
    if (!grant) {
        detail::complete_waiter<actor_token>(std::move(w), impl_->ex, grant.error(), std::move(d), {});
        return;
    }
    auto job = std::make_shared<detail::token_job>(impl_, std::move(cfg), *grant, std::move(options.actor_token));
    job->add_waiter(w);
    job->start();
}

} // namespace tetrapak
