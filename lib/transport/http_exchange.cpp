// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The one translation unit that instantiates Beast's HTTP operations over the
// TLS stream (the costly part of the build): everything else reaches it
// through http_exchange.hpp.

#include "http_exchange.hpp"

#include "connection.hpp"
#include "exchange_parts.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/coroutine.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace tetrapak::detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using access = diagnostics_access;

http_request make_request(http::verb method, const endpoint& ep, const std::vector<http_field>& fields,
                          std::string body)
{
    http_request req;
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

http_response_view view_of(http_response& res)
{
    return {res.result_int(), res.body(), res[http::field::retry_after], res[http::field::www_authenticate]};
}

/// Name resolution runs detached: getaddrinfo cannot be interrupted, so the
/// operation waits on `wake` instead, which the resolve's handler cancels when
/// it has a result. A timeout or a cancellation completes the step at once; a
/// result that arrives later is dropped with this state.
struct http_exchange::resolve_state {
    explicit resolve_state(const asio::any_io_executor& ex) : wake(ex) {}
    asio::steady_timer wake;
    tcp::resolver::results_type results;
    error_code ec;
    bool done = false;
};

http_exchange::http_exchange(std::shared_ptr<transport_context> tc, endpoint ep, exchange_limits limits, bool traced)
    : tc_(std::move(tc)), ep_(std::move(ep)), limits_(limits), traced_(traced)
{
    if (auto r = tc_->proxies.route(ep_, diag))
        proxy_ = std::move(*r);
    else
        setup_ec_ = r.error();
    // Connections and sessions made without verification never serve a
    // verifying call; tunnels through one proxy (or with one set of proxy
    // credentials, kept as a hash) never serve another.
    pool_key_ = (ep_.tls ? "https://" : "http://") + ep_.host + ":" + ep_.port +
                (limits_.insecure_skip_verify ? "#unverified" : "");
    if (proxy_)
        pool_key_ += " via " + proxy_->display + "#" + std::to_string(std::hash<std::string>{}(proxy_->authorization));
    new_parser();
}

http_exchange::~http_exchange() = default;

void http_exchange::new_parser()
{
    parser_.emplace();
    parser_->body_limit(limits_.max_body);
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header));
}

void http_exchange::trace(step s, bool finished, error_code ec)
{
    if (!traced_ || !tc_->trace)
        return;
    auto now = std::chrono::steady_clock::now();
    if (!finished)
        step_start_ = now;
    tc_->trace(trace_event{s, finished, ec, finished ? now - step_start_ : std::chrono::steady_clock::duration{}});
}

void http_exchange::cancel()
{
    sig_.emit(asio::cancellation_type::terminal);
    if (resolver_)
        resolver_->cancel(); // getaddrinfo is not reached by per-operation cancellation
}

/// Keeps the connection for the next request when it is clean: the answer read
/// in full and nothing after it, a final (not 1xx) status, the server keeping
/// it open, no failure, no cancellation. The TLS session of every connection
/// that carried a whole answer is kept for the next handshake, pooled or not.
void http_exchange::finished(error_code ec)
{
    done_ = true;
    if (deadline_armed_)
        deadline_->cancel();
    const bool answered = !ec && parser_->is_done();
    if (answered && ep_.tls && limits_.connections.tls_session_resumption && !limits_.insecure_skip_verify)
        if (SSL_SESSION* s = SSL_get1_session(conn_->stream->native_handle()))
            tc_->pool.set_session(pool_key_, s);
    const bool clean = answered && !parser_->need_eof() && response().result_int() >= 200 &&
                       response().keep_alive() && conn_->buffer.size() == 0;
    if (clean && limits_.connections.max_idle_per_endpoint) {
        tc_->pool.put(pool_key_, std::move(conn_), limits_.connections.max_idle_per_endpoint);
    } else if (conn_) {
        error_code ignored;
        conn_->tcp().socket().close(ignored);
    }
}

error_code http_exchange::prepare_tls()
{
    SSL* ssl = conn_->stream->native_handle();
    if (!ep_.host_is_ip && !SSL_set_tlsext_host_name(ssl, ep_.host.c_str()))
        return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
    if (limits_.connections.tls_session_resumption && !limits_.insecure_skip_verify)
        if (auto s = tc_->pool.session(pool_key_))
            SSL_set_session(ssl, s.get()); // a failed resumption falls back to a full handshake
    if (limits_.insecure_skip_verify) {
        conn_->stream->set_verify_mode(ssl::verify_none);
        return {};
    }
    conn_->stream->set_verify_mode(ssl::verify_peer);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ep_.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ep_.host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, ep_.host.c_str(), ep_.host.size());
    return ok ? error_code{} : error_code(error::tls_verification_failed);
}

/// One timer for the whole exchange instead of one armed and cancelled around
/// every read and write (Beast's stream timeouts cost two timerfd_settime calls
/// per token): each step only moves `step_deadline_`; the timer is re-armed
/// when a step's deadline comes before the one it is set for, and when it
/// fires early it waits on for the step's deadline. At the deadline the socket
/// is closed, which ends the step's operation; failed() reports the timeout.
void http_exchange::set_deadline(std::chrono::milliseconds timeout)
{
    step_deadline_ = std::chrono::steady_clock::now() + timeout;
    if (!deadline_)
        deadline_.emplace(tc_->ex);
    if (deadline_armed_) {
        if (step_deadline_ < deadline_->expiry())
            deadline_->expires_at(step_deadline_); // the pending wait ends and waits again (on_deadline)
        return;
    }
    deadline_armed_ = true;
    deadline_->expires_at(step_deadline_);
    wait_for_deadline();
}

void http_exchange::wait_for_deadline()
{
    deadline_->async_wait(asio::bind_executor(strand_, [self = shared_from_this()](error_code) { self->on_deadline(); }));
}

void http_exchange::on_deadline()
{
    if (done_) {
        deadline_armed_ = false;
        return;
    }
    if (std::chrono::steady_clock::now() < step_deadline_) { // fired for an earlier step, or re-armed
        deadline_->expires_at(step_deadline_);
        wait_for_deadline();
        return;
    }
    deadline_armed_ = false;
    timed_out_ = true;
    error_code ignored;
    conn_->tcp().socket().close(ignored); // ends the pending operation
}

/// Maps what a step returned to what the caller sees: a failure to reach or
/// pass the proxy names the proxy, a timeout names its step, a TLS failure
/// says whether it was verification, the protocol version, or a server that
/// does not speak TLS.
error_code http_exchange::translate(step s, error_code ec)
{
    if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system)
        return error::too_many_open_files;
    if (proxy_ && (s == step::resolve || s == step::connect || s == step::proxy_connect)) {
        if (ec == beast::error::timeout)
            return error::proxy_timeout;
        if (ec.category() == client_category())
            return ec; // tunnel_result's own verdict
        access::client_message(diag) = "proxy " + proxy_->display + ": " + ec.message();
        return s == step::proxy_connect ? error::proxy_bad_response : error::proxy_unreachable;
    }
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
        long verify = SSL_get_verify_result(conn_->stream->native_handle());
        if (verify != X509_V_OK) {
            access::client_message(diag) = std::string("certificate verification: ") + X509_verify_cert_error_string(verify);
            tc_->pool.forget_session(pool_key_);
            return error::tls_verification_failed;
        }
        switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_NO_PROTOCOLS_AVAILABLE: return error::tls_version_refused;
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH: return error::not_tls;
        default: break;
        }
    }
    return ec;
}

/// A reused connection that the server closed while it sat idle fails the
/// write or the first read without a byte of answer: such a failure is not the
/// request's, and the exchange goes on over a new connection.
bool http_exchange::stale(error_code ec) const
{
    if (!reused_ || parser_->got_some())
        return false;
    return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::not_connected || ec == ssl::error::stream_truncated;
}

/// [resolve -> connect -> handshake] -> write -> read header -> read body.
/// Checks the cancellation state on every resume.
struct exchange_op {
    http_exchange& x;
    step current = step::resolve;
    std::shared_ptr<http_exchange::resolve_state> resolve{};
    asio::coroutine coro{};

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0)
    {
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
    static bool cancelled(Self& self)
    {
        return self.get_cancellation_state().cancelled() != asio::cancellation_type::none;
    }

    /// Ends the operation when the step failed or a cancellation arrived
    /// meanwhile; the connection is then never reused.
    template <class Self>
    bool failed(Self& self, error_code ec)
    {
        if (cancelled(self))
            ec = asio::error::operation_aborted;
        else if (x.timed_out_)
            ec = x.translate(current, beast::error::timeout);
        else if (ec)
            ec = x.translate(current, ec);
        x.trace(current, true, ec);
        if (!ec)
            return false;
        error_code ignored;
        if (x.conn_)
            x.conn_->tcp().socket().close(ignored);
        self.complete(ec);
        return true;
    }

    /// The step's operation failed, or the exchange was cancelled or timed
    /// out meanwhile (for a step of more than one operation).
    template <class Self>
    bool interrupted(Self& self, error_code ec) const
    {
        return ec || cancelled(self) || x.timed_out_;
    }

    /// True when the step failed on a connection the server had closed: the
    /// connection is replaced and the exchange starts over.
    template <class Self>
    bool replace_stale(Self& self, error_code ec)
    {
        if (!ec || cancelled(self) || x.timed_out_ || !x.stale(ec))
            return false;
        x.trace(current, true, ec);
        x.conn_->reset_stream();
        x.reused_ = false;
        x.new_parser();
        return true;
    }

    /// Starts the detached name resolution; its handler runs on the exchange's
    /// strand, so it cannot run before the wait on `resolve->wake` is set up.
    void start_resolve()
    {
        if (!x.resolver_)
            x.resolver_.emplace(x.conn_->ex);
        resolve = std::make_shared<http_exchange::resolve_state>(x.conn_->ex);
        x.resolver_->async_resolve(x.peer_host(), x.peer_port(),
                                   asio::bind_executor(x.strand_, [st = resolve](error_code rec,
                                                                                 tcp::resolver::results_type r) {
                                       st->ec = rec;
                                       st->results = std::move(r);
                                       st->done = true;
                                       st->wake.cancel();
                                   }));
        resolve->wake.expires_after(x.limits_.timeouts.connect);
    }

    /// What the resolve step returned (a timeout or cancellation when the wait ended first).
    error_code resolved()
    {
        error_code ec = beast::error::timeout; // or cancelled: failed() checks that first
        if (resolve->done) {
            ec = resolve->ec;
            x.endpoints_ = std::move(resolve->results);
        } else {
            x.resolver_->cancel();
        }
        resolve.reset();
        return ec;
    }

    void connected()
    {
        x.tc_->counters->report(metric::connection_opened);
        // Small writes go out at once: with Nagle's algorithm a request written
        // right after a resumed TLS handshake waits for the server's delayed ACK.
        error_code ignored;
        x.conn_->tcp().socket().set_option(tcp::no_delay(true), ignored);
    }

    template <class Self>
    void resume(Self& self, error_code ec)
    {
        const auto& ep = x.ep_;
        const auto& to = x.limits_.timeouts;
        BOOST_ASIO_CORO_REENTER(coro)
        {
            if (x.setup_ec_) { // never complete inside start()
                BOOST_ASIO_CORO_YIELD asio::post(std::move(self));
                self.complete(x.setup_ec_);
                return;
            }
            if (x.wait_) {
                begin(step::connection_wait);
                x.wait_->timer.expires_after(to.connection_wait);
                BOOST_ASIO_CORO_YIELD x.wait_->timer.async_wait(std::move(self));
                if (failed(self, x.end_connection_wait(cancelled(self))))
                    return;
            }
            for (;;) {
                if (!x.reused_) {
                    if (x.peer_is_ip()) {
                        begin(step::connect);
                        x.set_deadline(to.connect);
                        BOOST_ASIO_CORO_YIELD x.conn_->tcp().async_connect(
                            tcp::endpoint(asio::ip::make_address(x.peer_host()),
                                          static_cast<unsigned short>(std::stoi(x.peer_port()))),
                            std::move(self));
                        if (failed(self, ec))
                            return;
                    } else {
                        begin(step::resolve);
                        start_resolve();
                        BOOST_ASIO_CORO_YIELD resolve->wake.async_wait(std::move(self));
                        if (failed(self, resolved()))
                            return;
                        begin(step::connect);
                        x.set_deadline(to.connect);
                        BOOST_ASIO_CORO_YIELD x.conn_->tcp().async_connect(x.endpoints_, std::move(self));
                        if (failed(self, ec))
                            return;
                    }
                    connected();
                    if (x.proxy_ && ep.tls) {
                        begin(step::proxy_connect);
                        x.prepare_tunnel();
                        x.set_deadline(to.connect);
                        BOOST_ASIO_CORO_YIELD http::async_write(x.conn_->tcp(), x.tunnel_->req, std::move(self));
                        if (interrupted(self, ec) && failed(self, ec))
                            return;
                        BOOST_ASIO_CORO_YIELD http::async_read_header(x.conn_->tcp(), x.conn_->buffer, x.tunnel_->res,
                                                                     std::move(self));
                        if (failed(self, x.tunnel_result(ec)))
                            return;
                    }
                    if (ep.tls) {
                        begin(step::handshake);
                        ec = x.prepare_tls();
                        if (!ec) {
                            x.set_deadline(to.handshake);
                            BOOST_ASIO_CORO_YIELD x.conn_->stream->async_handshake(ssl::stream_base::client, std::move(self));
                        }
                        if (failed(self, ec))
                            return;
                        if (SSL_session_reused(x.conn_->stream->native_handle()))
                            x.tc_->counters->report(metric::tls_resumed);
                    }
                }

                begin(step::write);
                x.sent_at = std::chrono::system_clock::now();
                if (error_code dpop_ec = x.sign_dpop(); dpop_ec && failed(self, dpop_ec))
                    return;
                x.set_deadline(to.request);
                if (ep.tls)
                    BOOST_ASIO_CORO_YIELD http::async_write(*x.conn_->stream, x.request, std::move(self));
                else
                    BOOST_ASIO_CORO_YIELD http::async_write(x.conn_->tcp(), x.request, std::move(self));
                if (replace_stale(self, ec))
                    continue;
                if (failed(self, ec))
                    return;

                begin(step::read_header);
                x.set_deadline(to.response_header);
                if (ep.tls)
                    BOOST_ASIO_CORO_YIELD http::async_read_header(*x.conn_->stream, x.conn_->buffer, *x.parser_, std::move(self));
                else
                    BOOST_ASIO_CORO_YIELD http::async_read_header(x.conn_->tcp(), x.conn_->buffer, *x.parser_, std::move(self));
                if (replace_stale(self, ec))
                    continue;
                if (failed(self, ec))
                    return;
                x.keep_dpop_nonce();
                break;
            }

            begin(step::read_body);
            x.set_deadline(to.response_body);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read(*x.conn_->stream, x.conn_->buffer, *x.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read(x.conn_->tcp(), x.conn_->buffer, *x.parser_, std::move(self));
            if (failed(self, ec))
                return;
            self.complete(error_code{});
        }
    }
};

void http_exchange::start(asio::any_io_executor strand, std::shared_ptr<exchange_owner> owner)
{
    strand_ = std::move(strand);
    if (proxy_ && !ep_.tls) {
        // An http:// target through a proxy: the absolute form (RFC 9112 §3.2.2).
        request.target("http://" + std::string(ep_.url.encoded_host_and_port()) + std::string(request.target()));
        if (!proxy_->authorization.empty())
            request.set(http::field::proxy_authorization, proxy_->authorization);
    }
    if (!setup_ec_)
        take_connection();
    // The owner lives in the operation, not in the exchange it owns: no cycle,
    // so an io_context destroyed with work pending frees both.
    auto done = [self = shared_from_this(), owner = std::move(owner)](error_code ec) {
        self->finished(ec);
        owner->exchange_done(ec);
    };
    auto handler = asio::bind_executor(strand_, asio::bind_cancellation_slot(sig_.slot(), std::move(done)));
    asio::async_compose<decltype(handler), void(error_code)>(exchange_op{*this}, handler, tc_->ex);
}

} // namespace tetrapak::detail
