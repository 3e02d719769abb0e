// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The asynchronous driver: moves the bytes that protocol.cpp produces and
// consumes. This is the only translation unit that instantiates Asio, Beast
// and OpenSSL stream code.

#include <tetrapak/authorization_service.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
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
using handler_type = asio::any_completion_handler<authorization_service::completion_signature>;

namespace detail {

struct service_impl {
    asio::any_io_executor ex;
    std::unique_ptr<ssl::context> own_tls;
    ssl::context* tls = nullptr;
    std::shared_ptr<const auth_config> config;
    trace_hook trace;
    grant_resolver resolver;
};

namespace {

std::unique_ptr<ssl::context> make_tls_context(const tls_settings& s)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    error_code ec;
    diagnostics diag;
    if (!s.ca_file.empty()) {
        ctx->load_verify_file(s.ca_file, ec);
        if (ec)
            detail::diagnostics_access::client_message(diag) = "tls.ca_file could not be loaded";
    }
    if (!ec && !s.ca_path.empty()) {
        ctx->add_verify_path(s.ca_path, ec);
        if (ec)
            detail::diagnostics_access::client_message(diag) = "tls.ca_path could not be used";
    }
    if (!ec && s.ca_file.empty() && s.ca_path.empty())
        ctx->set_default_verify_paths(ec);
    if (!ec && !s.client_certificate_file.empty()) { // RFC 8705 mutual TLS
        ctx->use_certificate_chain_file(s.client_certificate_file, ec);
        if (!ec)
            ctx->use_private_key_file(s.client_key_file.empty() ? s.client_certificate_file : s.client_key_file,
                                      ssl::context::pem, ec);
        if (ec) {
            detail::diagnostics_access::client_message(diag) =
                "tls.client_certificate_file / tls.client_key_file could not be loaded or do not match";
            throw error_with_diagnostics(error::key_load_failed, std::move(diag));
        }
    }
    if (ec)
        throw error_with_diagnostics(ec, std::move(diag));
    return ctx;
}

/// A caller waiting for a result. Completed exactly once, always through
/// its associated executor.
struct waiter {
    waiter(handler_type h, diagnostics* d) : handler(std::move(h)), diag(d) {}
    handler_type handler;
    diagnostics* diag;
    asio::cancellation_slot slot;
    std::atomic<bool> cancelled{false};
};

/// The final step of a waiter, run through the waiter's associated executor
/// (asio::post's work dispatcher takes it there). A cancellation that
/// arrived after the result was known still wins here.
struct waiter_completion {
    std::shared_ptr<waiter> w;
    error_code ec;
    diagnostics diag;
    actor_token token;

    using executor_type = asio::associated_executor_t<handler_type, asio::any_io_executor>;
    executor_type get_executor() const noexcept { return asio::get_associated_executor(w->handler, fallback); }
    asio::any_io_executor fallback;

    void operator()()
    {
        if (w->slot.is_connected())
            w->slot.clear();
        if (w->cancelled.load()) {
            ec = asio::error::operation_aborted;
            token = actor_token{};
            diag.clear();
        }
        if (w->diag)
            *w->diag = std::move(diag);
        auto handler = std::move(w->handler);
        w.reset();
        diag = {};
        std::move(handler)(ec, std::move(token));
    }
};

/// Completes a waiter: never inline, always through its associated executor.
void complete_waiter(std::shared_ptr<waiter> w, const asio::any_io_executor& fallback, error_code ec,
                     diagnostics diag, actor_token token)
{
    asio::post(fallback, waiter_completion{std::move(w), ec, std::move(diag), std::move(token), fallback});
}

class fetch;

/// Installed in a waiter's cancellation slot.
struct waiter_cancel {
    std::shared_ptr<waiter> w;
    std::weak_ptr<fetch> f;
    void operator()(asio::cancellation_type type);
};

/// One token request in flight: a connection, the request, the result, and
/// the waiters that share it. Its I/O runs on its own strand; the waiter list
/// is guarded by a mutex that is never held across I/O or handler calls.
class fetch : public std::enable_shared_from_this<fetch> {
public:
    fetch(std::shared_ptr<service_impl> svc, std::shared_ptr<const auth_config> cfg, token_request req)
        : svc_(std::move(svc)), cfg_(std::move(cfg)), req_(std::move(req)), strand_(asio::make_strand(svc_->ex)),
          resolver_(strand_), stream_(strand_, *svc_->tls), timer_(strand_)
    {
        http_req_.method(http::verb::post);
        http_req_.target(req_.endpoint.target);
        http_req_.version(11);
        http_req_.set(http::field::host, req_.endpoint.url.encoded_host_and_port());
        for (auto& f : req_.fields)
            http_req_.set(f.name, f.value);
        http_req_.body() = std::move(req_.body);
        http_req_.prepare_payload();
        parser_.emplace();
        parser_->body_limit(cfg_->max_response_size);
        parser_->header_limit(static_cast<std::uint32_t>(cfg_->max_header_size));
    }

    void add_waiter(std::shared_ptr<waiter> w)
    {
        w->slot = asio::get_associated_cancellation_slot(w->handler);
        if (w->slot.is_connected())
            w->slot.template emplace<waiter_cancel>(waiter_cancel{w, weak_from_this()});
        std::lock_guard lock(mtx_);
        waiters_.push_back(std::move(w));
    }

    void start();

    /// A waiter leaves. When it was the last one, the fetch is cancelled.
    void abandon(const std::shared_ptr<waiter>& w)
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
        }
        if (!found)
            return; // already handed its result; the completion sees `cancelled`
        complete_waiter(w, svc_->ex, asio::error::operation_aborted, {}, {});
        if (last)
            asio::post(strand_, [self = shared_from_this()] {
                self->cancel_.emit(asio::cancellation_type::terminal);
                self->resolver_.cancel();
            });
    }

private:
    friend struct fetch_op;

    void finish(error_code ec)
    {
        std::vector<std::shared_ptr<waiter>> ws;
        {
            std::lock_guard lock(mtx_);
            done_ = true;
            ws.swap(waiters_);
        }
        if (ec)
            token_ = {};
        for (auto& w : ws)
            complete_waiter(std::move(w), svc_->ex, ec, diag_, token_);
    }

    void trace(step s, bool finished, error_code ec = {})
    {
        auto now = std::chrono::steady_clock::now();
        if (!finished)
            step_start_ = now;
        if (svc_->trace)
            svc_->trace(trace_event{s, finished, ec, finished ? now - step_start_ : std::chrono::steady_clock::duration{}});
    }

    void arm_resolve_timer()
    {
        timer_.expires_after(cfg_->timeouts.connect);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) {
                self->resolve_timed_out_ = true;
                self->resolver_.cancel();
            }
        });
    }

    error_code prepare_tls()
    {
        SSL* ssl = stream_.native_handle();
        const auto& ep = req_.endpoint;
        if (!ep.host_is_ip && !SSL_set_tlsext_host_name(ssl, ep.host.c_str()))
            return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        if (cfg_->tls.insecure_disable_verification_i_know_what_i_am_doing) {
            stream_.set_verify_mode(ssl::verify_none);
            return {};
        }
        stream_.set_verify_mode(ssl::verify_peer);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ep.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ep.host.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, ep.host.c_str(), ep.host.size());
        if (!ok)
            return error::tls_verification_failed;
        return {};
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
                detail::diagnostics_access::client_message(diag_) =
                    std::string("certificate verification: ") + X509_verify_cert_error_string(verify);
                return error::tls_verification_failed;
            }
        }
        return ec;
    }

    std::shared_ptr<service_impl> svc_;
    std::shared_ptr<const auth_config> cfg_;
    token_request req_;
    asio::strand<asio::any_io_executor> strand_;
    tcp::resolver resolver_;
    beast::ssl_stream<beast::tcp_stream> stream_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> http_req_;
    std::optional<http::response_parser<http::string_body>> parser_;
    tcp::resolver::results_type endpoints_;
    asio::cancellation_signal cancel_;
    std::chrono::steady_clock::time_point step_start_{};
    std::chrono::system_clock::time_point sent_at_{};
    bool resolve_timed_out_ = false;

    diagnostics diag_;
    actor_token token_;

    std::mutex mtx_;
    std::vector<std::shared_ptr<waiter>> waiters_;
    bool done_ = false;
};

void waiter_cancel::operator()(asio::cancellation_type type)
{
    using ct = asio::cancellation_type;
    if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none)
        return;
    if (w->cancelled.exchange(true))
        return;
    if (auto fs = f.lock())
        fs->abandon(w);
}

/// resolve -> connect -> handshake -> write -> read header -> read body -> parse.
/// Checks the cancellation state on every resume.
struct fetch_op {
    fetch& f;
    step current = step::resolve;
    asio::coroutine coro{};

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0)
    {
        resume(self, ec);
    }
    template <class Self>
    void operator()(Self& self, error_code ec, tcp::resolver::results_type results)
    {
        f.endpoints_ = std::move(results);
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
        f.trace(s, false);
    }

    template <class Self>
    bool failed(Self& self, error_code ec)
    {
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none)
            ec = asio::error::operation_aborted;
        else if (ec)
            ec = f.translate(current, ec);
        f.trace(current, true, ec);
        if (!ec)
            return false;
        beast::get_lowest_layer(f.stream_).close();
        self.complete(ec);
        return true;
    }

    template <class Self>
    void resume(Self& self, error_code ec)
    {
        auto& tcp_layer = beast::get_lowest_layer(f.stream_);
        const auto& ep = f.req_.endpoint;
        const auto& to = f.cfg_->timeouts;
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
                f.arm_resolve_timer();
                BOOST_ASIO_CORO_YIELD f.resolver_.async_resolve(ep.host, ep.port, std::move(self));
                f.timer_.cancel();
                if (f.resolve_timed_out_)
                    ec = beast::error::timeout;
                if (failed(self, ec))
                    return;
                begin(step::connect);
                tcp_layer.expires_after(to.connect);
                BOOST_ASIO_CORO_YIELD tcp_layer.async_connect(f.endpoints_, std::move(self));
                if (failed(self, ec))
                    return;
            }

            if (ep.tls) {
                begin(step::handshake);
                ec = f.prepare_tls();
                if (!ec) {
                    tcp_layer.expires_after(to.handshake);
                    BOOST_ASIO_CORO_YIELD f.stream_.async_handshake(ssl::stream_base::client, std::move(self));
                }
                if (failed(self, ec))
                    return;
            }

            begin(step::write);
            f.sent_at_ = std::chrono::system_clock::now();
            tcp_layer.expires_after(to.request);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_write(f.stream_, f.http_req_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_write(tcp_layer, f.http_req_, std::move(self));
            if (failed(self, ec))
                return;

            begin(step::read_header);
            tcp_layer.expires_after(to.response_header);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read_header(f.stream_, f.buffer_, *f.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read_header(tcp_layer, f.buffer_, *f.parser_, std::move(self));
            if (failed(self, ec))
                return;

            begin(step::read_body);
            tcp_layer.expires_after(to.response_body);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read(f.stream_, f.buffer_, *f.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read(tcp_layer, f.buffer_, *f.parser_, std::move(self));
            if (failed(self, ec))
                return;
            tcp_layer.expires_never();

            begin(step::parse);
            {
                const auto& res = f.parser_->get();
                http_response_view view{res.result_int(), res.body(), res[http::field::retry_after],
                                        res[http::field::www_authenticate]};
                parse_options popts{f.sent_at_, f.cfg_->default_lifetime};
                auto token = parse_token_response(view, popts, f.diag_);
                if (token)
                    f.token_ = std::move(*token);
                else
                    ec = token.error();
            }
            f.parser_.reset(); // free the body before completing
            f.trace(step::parse, true, ec);
            tcp_layer.close(); // one request per connection in this version
            self.complete(ec);
        }
    }
};

void fetch::start()
{
    asio::dispatch(strand_, [self = shared_from_this()] {
        auto* raw = self.get();
        auto done = asio::bind_cancellation_slot(raw->cancel_.slot(), [self](error_code ec) { self->finish(ec); });
        asio::async_compose<decltype(done), void(error_code)>(fetch_op{*raw}, done, raw->strand_);
    });
}

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

const auth_config& authorization_service::config() const noexcept { return *impl_->config; }

void authorization_service::set_trace(trace_hook hook) { impl_->trace = std::move(hook); }

void authorization_service::set_grant_resolver(grant_resolver resolver) { impl_->resolver = std::move(resolver); }

void authorization_service::initiate(http_client_options options, diagnostics* diag, handler_type handler)
{
    auto cfg = options.auth_config ? std::move(options.auth_config) : impl_->config;
    auto w = std::make_shared<detail::waiter>(std::move(handler), diag);

    diagnostics d;
    auto grant = impl_->resolver ? impl_->resolver(*cfg, options, d) : resolve_grant(cfg->grant, options.actor_token, d);
    if (!grant) {
        detail::complete_waiter(std::move(w), impl_->ex, grant.error(), std::move(d), {});
        return;
    }
    grant_inputs in;
    in.grant = *grant;
    in.subject = &options.actor_token;
    auto req = build_token_request(*cfg, in, d);
    if (!req) {
        detail::complete_waiter(std::move(w), impl_->ex, req.error(), std::move(d), {});
        return;
    }
    auto f = std::make_shared<detail::fetch>(impl_, std::move(cfg), std::move(*req));
    f->add_waiter(std::move(w));
    f->start();
}

} // namespace tetrapak
