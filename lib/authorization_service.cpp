// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The asynchronous driver: moves the bytes that protocol.cpp produces and
// consumes. This is the only translation unit that instantiates Asio, Beast
// and OpenSSL stream code.
//
//   authorization_service::initiate
//     -> grant choice (pure) -> cache lookup (pure, under the service mutex)
//        hit: complete through the caller's executor [+ start one background renewal]
//        miss: join the key's token_job in flight, or start one (single-flight)
//   token_job: [discovery: waits on a shared discovery_job flight]
//              -> build request (pure) -> http_exchange over a pooled connection
//              -> parse (pure) -> [retry after a backoff] -> cache -> every waiter
//
// A flight<T> is one piece of shared work with the callers waiting on it. A
// waiter that is cancelled leaves at once; the work is cancelled only when no
// waiter remains (a background renewal is never cancelled by a waiter).
//
// Executors: each job runs on its own strand; each connection has its own
// strand, on which its exchange runs; the two meet only through posts.
// The service mutex guards the cache, the in-flight map and discovery, and is
// never held across I/O or a handler call.

#include <tetrapak/authorization_service.hpp>
#include <tetrapak/authorized_client.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>
#include <tetrapak/protocol.hpp>

#include "cache/token_cache.hpp"
#include "transport/retry.hpp"

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
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

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
class token_job;

/// A new strand on `ex`, as an any_io_executor. When `ex` is an io_context's
/// own executor (the usual case) the strand wraps that concrete executor: it
/// then fits the any_io_executor's small buffer, and its dispatches never
/// query a type-erased inner executor. A strand over any_io_executor costs a
/// heap allocation per conversion (every Beast operation makes several) and
/// one per dispatch: 34 of 88 allocations per fetched token, by heaptrack.
asio::any_io_executor make_strand_for(const asio::any_io_executor& ex)
{
    if (auto* io = ex.target<asio::io_context::executor_type>())
        return asio::make_strand(*io);
    return asio::make_strand(ex);
}

/// One connection to a token endpoint, with the strand its I/O runs on.
struct connection {
    connection(const asio::any_io_executor& ex, ssl::context& tls) : strand(make_strand_for(ex)), tls_ctx(&tls)
    {
        renew();
    }
    /// A new, unconnected stream on the same strand.
    void renew()
    {
        stream.emplace(strand, *tls_ctx);
        buffer.clear();
    }
    asio::any_io_executor strand; // a strand (make_strand_for)
    ssl::context* tls_ctx;
    std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
    beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since{};
};

struct ssl_session_free {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using ssl_session_ptr = std::shared_ptr<SSL_SESSION>;

/// Idle keep-alive connections and the last TLS session, per endpoint.
class connection_pool {
public:
    /// The most recently used idle connection that is still open, if any.
    std::unique_ptr<connection> take(const std::string& key, std::chrono::milliseconds idle_timeout)
    {
        std::vector<std::unique_ptr<connection>> dead; // closed outside the lock
        std::unique_ptr<connection> found;
        {
            std::lock_guard lock(mtx_);
            auto it = eps_.find(key);
            if (it == eps_.end())
                return nullptr;
            auto& idle = it->second.idle;
            const auto now = std::chrono::steady_clock::now();
            while (!idle.empty() && !found) {
                auto c = std::move(idle.back());
                idle.pop_back();
                if (now - c->idle_since <= idle_timeout && still_open(*c))
                    found = std::move(c);
                else
                    dead.push_back(std::move(c));
            }
        }
        return found;
    }

    void put(const std::string& key, std::unique_ptr<connection> c, std::size_t max_idle)
    {
        std::unique_ptr<connection> drop;
        c->idle_since = std::chrono::steady_clock::now();
        std::lock_guard lock(mtx_);
        auto& idle = eps_[key].idle;
        idle.push_back(std::move(c));
        if (idle.size() > max_idle) {
            drop = std::move(idle.front());
            idle.erase(idle.begin());
        }
    }

    ssl_session_ptr session(const std::string& key)
    {
        std::lock_guard lock(mtx_);
        auto it = eps_.find(key);
        return it == eps_.end() ? nullptr : it->second.session;
    }

    /// Keeps a copy of `s` (and releases `s`): OpenSSL marks a session
    /// unresumable when its connection is freed without a TLS shutdown, which
    /// is how idle connections the server closed end.
    void set_session(const std::string& key, SSL_SESSION* s)
    {
        SSL_SESSION* copy = SSL_SESSION_dup(s);
        SSL_SESSION_free(s);
        if (!copy)
            return;
        ssl_session_ptr p(copy, ssl_session_free{});
        std::lock_guard lock(mtx_);
        eps_[key].session.swap(p);
    }

    void forget_session(const std::string& key)
    {
        ssl_session_ptr p;
        std::lock_guard lock(mtx_);
        if (auto it = eps_.find(key); it != eps_.end())
            it->second.session.swap(p);
    }

private:
    /// An idle connection the server closed (or wrote to) is not reused: a
    /// non-blocking peek sees the FIN, a reset or stray bytes.
    static bool still_open(connection& c)
    {
        auto& sock = c.stream->next_layer().socket();
        if (!sock.is_open())
            return false;
        // One system call (MSG_DONTWAIT), not three: switching the socket to
        // non-blocking and back for an Asio peek costs two ioctls per request.
        char byte;
        const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }

    struct per_endpoint {
        std::vector<std::unique_ptr<connection>> idle;
        ssl_session_ptr session;
    };
    std::mutex mtx_;
    std::unordered_map<std::string, per_endpoint> eps_;
};

struct discovery_entry {
    std::optional<server_metadata> metadata;
    std::chrono::steady_clock::time_point expires{};
    std::weak_ptr<discovery_job> job;
};

} // namespace

struct service_impl {
    explicit service_impl(const auth_config& cfg) : cache(cfg.cache.max_entries) {}

    asio::any_io_executor ex;
    asio::any_completion_executor completion_ex; // `ex`, converted once (see waiter)
    std::unique_ptr<ssl::context> own_tls;
    ssl::context* tls = nullptr;
    std::shared_ptr<const auth_config> config;
    digest own_config_digest{};
    config_digest_memo digests; // of the configurations that calls bring
    trace_hook trace;
    grant_resolver resolver;
    metrics_hook metrics;
    std::atomic<std::uint64_t> counts[metric_count]{};

    connection_pool pool;

    /// The token endpoint of `cfg`, parsed once for as long as calls use the
    /// same URL (null when it does not parse: build_token_request reports why).
    std::shared_ptr<const endpoint> parsed_token_endpoint(const auth_config& cfg)
    {
        std::lock_guard lock(endpoint_mtx);
        if (!last_endpoint || last_endpoint_url != cfg.token_endpoint ||
            last_endpoint_http != cfg.allow_insecure_http_on_loopback) {
            diagnostics ignored;
            auto ep = parse_endpoint(cfg.token_endpoint, cfg.allow_insecure_http_on_loopback, ignored);
            if (!ep)
                return nullptr;
            last_endpoint = std::make_shared<const endpoint>(std::move(*ep));
            last_endpoint_url = cfg.token_endpoint;
            last_endpoint_http = cfg.allow_insecure_http_on_loopback;
        }
        return last_endpoint;
    }
    std::mutex endpoint_mtx; // guards the three below
    std::shared_ptr<const endpoint> last_endpoint;
    std::string last_endpoint_url;
    bool last_endpoint_http = false;

    std::mutex mtx; // guards what follows; never held across I/O or handler calls
    std::map<std::string, discovery_entry, std::less<>> discovery;
    token_cache cache;
    std::unordered_map<cache_key, std::weak_ptr<token_job>, cache_key_hash> inflight;
    std::chrono::system_clock::time_point last_sweep = std::chrono::system_clock::now();

    void report(metric m, error_code ec = {}, std::chrono::steady_clock::duration elapsed = {})
    {
        counts[static_cast<std::size_t>(m)].fetch_add(1, std::memory_order_relaxed);
        if (metrics)
            metrics(metrics_event{m, ec, elapsed});
    }
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
    /// With the fallback already converted (service_impl::completion_ex):
    /// converting an any_io_executor allocates each time.
    waiter(handler_of<T> h, diagnostics* d, const asio::any_completion_executor& fallback)
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
    // The result, written once by complete_waiter before it posts. Kept here
    // rather than in the posted completion, which stays one pointer: a storm's
    // thousands of queued completions cost little more than their waiters.
    error_code result_ec;
    std::unique_ptr<diagnostics> result_diag; ///< null: nothing to report (the common case)
    T result{};
};

/// The final step of a waiter, on the handler's associated executor. A
/// cancellation that arrived after the result was known still wins here.
template <class T>
struct waiter_completion {
    std::shared_ptr<waiter<T>> w;

    void operator()()
    {
        auto& x = *w;
        if (x.slot.is_connected())
            x.slot.clear();
        error_code ec = x.result_ec;
        T value = std::move(x.result);
        auto diag = std::move(x.result_diag);
        if (x.cancelled.load()) {
            ec = asio::error::operation_aborted;
            value = T{};
            diag.reset();
        }
        if (x.diag) {
            if (diag)
                *x.diag = std::move(*diag);
            else
                x.diag->clear();
        }
        auto handler = std::move(x.handler);
        x.work.reset();
        w.reset();
        diag.reset();
        std::move(handler)(ec, std::move(value));
    }
};

/// The first step, posted to the service's executor (so never inline): it
/// dispatches the final step to the handler's executor (what asio::post's work
/// dispatcher would do, without carrying a second executor in every queued
/// completion).
template <class T>
struct waiter_hop {
    std::shared_ptr<waiter<T>> w;

    void operator()()
    {
        auto ex = *w->work; // the final step releases w->work
        asio::dispatch(ex, waiter_completion<T>{std::move(w)});
    }
};

/// Completes a waiter: never inline, always through its associated executor.
template <class T>
void complete_waiter(std::shared_ptr<waiter<T>> w, const asio::any_io_executor& fallback, error_code ec,
                     const diagnostics& diag, T value)
{
    w->result_ec = ec;
    if (!diag.empty())
        w->result_diag = std::make_unique<diagnostics>(diag);
    w->result = std::move(value);
    asio::post(fallback, waiter_hop<T>{std::move(w)});
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

/// For a waiter whose result is already known (a cache hit): a signal that
/// arrives before its completion ran still wins (waiter_completion checks).
template <class T>
void watch_cancellation(const std::shared_ptr<waiter<T>>& w)
{
    w->slot = asio::get_associated_cancellation_slot(w->handler);
    if (w->slot.is_connected())
        w->slot.template emplace<waiter_cancel<T>>(waiter_cancel<T>{w, {}});
}

/// One piece of shared work (a token request, a discovery fetch) and the
/// callers waiting on it. Its I/O runs on its own strand; the waiter list is
/// guarded by a mutex that is never held across I/O or handler calls.
template <class T>
class flight : public std::enable_shared_from_this<flight<T>> {
public:
    /// A detached flight goes on when its last waiter leaves (a background
    /// renewal whose result is for the cache, not for one caller).
    explicit flight(asio::any_io_executor ex, bool detached = false)
        : ex_(ex), strand_(make_strand_for(ex)), detached_(detached)
    {
    }
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
            last = found && waiters_.empty() && !done_ && !detached_;
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
    asio::any_io_executor strand_; // a strand (make_strand_for)
    const bool detached_;

private:
    std::mutex mtx_;
    std::vector<std::shared_ptr<waiter<T>>> waiters_;
    bool done_ = false;
};

// ---------------------------------------------------------------------------
// http_exchange: one HTTP(S) request/response over a pooled or new connection

struct exchange_limits {
    tetrapak::timeouts timeouts;
    std::size_t max_body;
    std::size_t max_header;
    bool insecure_skip_verify;
    connection_settings connections; // the service's
};

/// One request and its response. Started and cancelled from its job's strand;
/// its I/O runs on its connection's strand, where `done` is called. The
/// connection goes back to the pool when the answer was read in full and the
/// server keeps it open; after a failure or a cancellation it is closed.
class http_exchange : public std::enable_shared_from_this<http_exchange> {
public:
    using done_handler = std::function<void(error_code)>;

    http_exchange(std::shared_ptr<service_impl> svc, endpoint ep, exchange_limits limits, bool traced)
        : svc_(std::move(svc)), ep_(std::move(ep)), limits_(limits), traced_(traced),
          // Connections and sessions made without verification never serve a verifying call.
          pool_key_((ep_.tls ? "https://" : "http://") + ep_.host + ":" + ep_.port +
                    (limits_.insecure_skip_verify ? "#unverified" : ""))
    {
        new_parser();
    }

    http::request<http::string_body> request;
    diagnostics diag; ///< transport details (TLS verification)
    std::chrono::system_clock::time_point sent_at{};

    http::response<http::string_body>& response() { return parser_->get(); }
    void release() { parser_.reset(); }

    /// Takes an idle connection (or makes one) and runs the exchange on its strand.
    void start(done_handler done)
    {
        conn_ = svc_->pool.take(pool_key_, limits_.connections.idle_timeout);
        reused_ = conn_ != nullptr;
        if (reused_)
            svc_->report(metric::connection_reused);
        else
            conn_ = std::make_unique<connection>(svc_->ex, *svc_->tls);
        strand_.emplace(conn_->strand);
        // `done` (which owns the job) lives in the operation, not in the exchange the
        // job owns: no cycle, so an io_context destroyed with work pending frees both.
        asio::dispatch(*strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
            if (self->cancelled_) {
                done(asio::error::operation_aborted);
                return;
            }
            self->async_run(asio::bind_cancellation_slot(self->sig_.slot(), [self, done = std::move(done)](error_code ec) {
                self->finished(ec);
                done(ec);
            }));
        });
    }

    /// Stops the exchange (from the job's strand, after start).
    void cancel()
    {
        if (!strand_)
            return;
        asio::post(*strand_, [self = shared_from_this()] {
            self->cancelled_ = true;
            self->sig_.emit(asio::cancellation_type::terminal);
            if (self->resolver_)
                self->resolver_->cancel(); // getaddrinfo is not reached by per-operation cancellation
        });
    }

    /// Reports a step to the service's trace hook (if any).
    void trace(step s, bool finished, error_code ec = {})
    {
        if (!traced_ || !svc_->trace)
            return;
        auto now = std::chrono::steady_clock::now();
        if (!finished)
            step_start_ = now;
        svc_->trace(trace_event{s, finished, ec, finished ? now - step_start_ : std::chrono::steady_clock::duration{}});
    }

private:
    friend struct exchange_op;

    template <class Handler>
    void async_run(Handler&& handler);

    void new_parser()
    {
        parser_.emplace();
        parser_->body_limit(limits_.max_body);
        parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header));
    }

    /// On the connection's strand: keep the connection for the next request
    /// when it is clean: the answer read in full and nothing after it, a final
    /// (not 1xx) status, the server keeping it open, no failure, no cancellation.
    /// The TLS session of every connection that carried a whole answer is kept
    /// for the next handshake, pooled or not (max_idle_per_endpoint = 0).
    void finished(error_code ec)
    {
        const bool answered = !ec && !cancelled_ && parser_->is_done();
        if (answered && ep_.tls && limits_.connections.tls_session_resumption && !limits_.insecure_skip_verify)
            if (SSL_SESSION* s = SSL_get1_session(conn_->stream->native_handle()))
                svc_->pool.set_session(pool_key_, s);
        const bool clean = answered && !parser_->need_eof() && response().result_int() >= 200 &&
                           response().keep_alive() && conn_->buffer.size() == 0;
        if (clean && limits_.connections.max_idle_per_endpoint) {
            svc_->pool.put(pool_key_, std::move(conn_), limits_.connections.max_idle_per_endpoint);
        } else if (conn_) {
            error_code ignored;
            beast::get_lowest_layer(*conn_->stream).socket().close(ignored);
        }
    }


    /// Name resolution runs detached: getaddrinfo cannot be interrupted, so
    /// the operation waits on `wake` instead, which the resolve's handler
    /// cancels when it has a result. A timeout or a cancellation completes the
    /// step at once; a result that arrives later is dropped with this state.
    struct resolve_state {
        explicit resolve_state(const asio::any_io_executor& ex) : wake(ex) {}
        asio::steady_timer wake;
        tcp::resolver::results_type results;
        error_code ec;
        bool done = false;
    };

    error_code prepare_tls()
    {
        SSL* ssl = conn_->stream->native_handle();
        if (!ep_.host_is_ip && !SSL_set_tlsext_host_name(ssl, ep_.host.c_str()))
            return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        if (limits_.connections.tls_session_resumption && !limits_.insecure_skip_verify)
            if (auto s = svc_->pool.session(pool_key_))
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
            long verify = SSL_get_verify_result(conn_->stream->native_handle());
            if (verify != X509_V_OK) {
                access::client_message(diag) = std::string("certificate verification: ") + X509_verify_cert_error_string(verify);
                svc_->pool.forget_session(pool_key_);
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
    /// write or the first read without a byte of answer: such a failure is
    /// not the request's, and the exchange goes on over a new connection.
    bool stale(error_code ec) const
    {
        if (!reused_ || parser_->got_some())
            return false;
        return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
               ec == asio::error::broken_pipe || ec == asio::error::not_connected ||
               ec == ssl::error::stream_truncated;
    }

    std::shared_ptr<service_impl> svc_;
    endpoint ep_;
    exchange_limits limits_;
    bool traced_;
    std::string pool_key_;
    std::unique_ptr<connection> conn_; // connection strand once started
    std::optional<asio::any_io_executor> strand_; // the connection's strand; set on the job strand
    bool reused_ = false;
    bool cancelled_ = false; // connection strand
    asio::cancellation_signal sig_;
    std::optional<tcp::resolver> resolver_;
    std::optional<http::response_parser<http::string_body>> parser_;
    tcp::resolver::results_type endpoints_;
    std::chrono::steady_clock::time_point step_start_{};
};

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
    bool cancelled(Self& self) const
    {
        return self.get_cancellation_state().cancelled() != asio::cancellation_type::none;
    }

    template <class Self>
    bool failed(Self& self, error_code ec)
    {
        if (cancelled(self))
            ec = asio::error::operation_aborted;
        else if (ec)
            ec = x.translate(current, ec);
        x.trace(current, true, ec);
        if (!ec)
            return false;
        error_code ignored;
        beast::get_lowest_layer(*x.conn_->stream).socket().close(ignored); // never reused after a failure or cancellation
        self.complete(ec);
        return true;
    }

    /// True when the step failed on a connection the server had closed: the
    /// connection is replaced and the exchange starts over.
    template <class Self>
    bool replace_stale(Self& self, error_code ec)
    {
        if (!ec || cancelled(self) || !x.stale(ec))
            return false;
        x.trace(current, true, ec);
        x.conn_->renew();
        x.reused_ = false;
        x.new_parser();
        return true;
    }

    template <class Self>
    void resume(Self& self, error_code ec)
    {
        auto lowest = [this]() -> beast::tcp_stream& { return beast::get_lowest_layer(*x.conn_->stream); };
        const auto& ep = x.ep_;
        const auto& to = x.limits_.timeouts;
        BOOST_ASIO_CORO_REENTER(coro)
        {
            for (;;) {
                if (!x.reused_) {
                    if (ep.host_is_ip) {
                        begin(step::connect);
                        lowest().expires_after(to.connect);
                        BOOST_ASIO_CORO_YIELD lowest().async_connect(
                            tcp::endpoint(asio::ip::make_address(ep.host), static_cast<unsigned short>(std::stoi(ep.port))),
                            std::move(self));
                        if (failed(self, ec))
                            return;
                    } else {
                        begin(step::resolve);
                        if (!x.resolver_)
                            x.resolver_.emplace(x.conn_->strand);
                        resolve = std::make_shared<http_exchange::resolve_state>(x.conn_->strand);
                        // The resolve's handler runs on this strand, so it cannot run before the wait below is set up.
                        x.resolver_->async_resolve(ep.host, ep.port,
                                                   [st = resolve](error_code rec, tcp::resolver::results_type r) {
                                                       st->ec = rec;
                                                       st->results = std::move(r);
                                                       st->done = true;
                                                       st->wake.cancel();
                                                   });
                        resolve->wake.expires_after(to.connect);
                        BOOST_ASIO_CORO_YIELD resolve->wake.async_wait(std::move(self));
                        if (resolve->done) {
                            ec = resolve->ec;
                            x.endpoints_ = std::move(resolve->results);
                        } else {
                            ec = beast::error::timeout; // or cancelled: failed() checks that first
                            x.resolver_->cancel();
                        }
                        resolve.reset();
                        if (failed(self, ec))
                            return;
                        begin(step::connect);
                        lowest().expires_after(to.connect);
                        BOOST_ASIO_CORO_YIELD lowest().async_connect(x.endpoints_, std::move(self));
                        if (failed(self, ec))
                            return;
                    }
                    x.svc_->report(metric::connection_opened);
                    {
                        // Small writes go out at once: with Nagle's algorithm a request written
                        // right after a resumed TLS handshake's Finished waited for the server's
                        // delayed ACK (40 ms per token against oidc-provider, benchmark 2).
                        error_code ignored;
                        lowest().socket().set_option(tcp::no_delay(true), ignored);
                    }

                    if (ep.tls) {
                        begin(step::handshake);
                        ec = x.prepare_tls();
                        if (!ec) {
                            lowest().expires_after(to.handshake);
                            BOOST_ASIO_CORO_YIELD x.conn_->stream->async_handshake(ssl::stream_base::client, std::move(self));
                        }
                        if (failed(self, ec))
                            return;
                        if (SSL_session_reused(x.conn_->stream->native_handle()))
                            x.svc_->report(metric::tls_resumed);
                    }
                }

                begin(step::write);
                x.sent_at = std::chrono::system_clock::now();
                lowest().expires_after(to.request);
                if (ep.tls)
                    BOOST_ASIO_CORO_YIELD http::async_write(*x.conn_->stream, x.request, std::move(self));
                else
                    BOOST_ASIO_CORO_YIELD http::async_write(lowest(), x.request, std::move(self));
                if (replace_stale(self, ec))
                    continue;
                if (failed(self, ec))
                    return;

                begin(step::read_header);
                lowest().expires_after(to.response_header);
                if (ep.tls)
                    BOOST_ASIO_CORO_YIELD http::async_read_header(*x.conn_->stream, x.conn_->buffer, *x.parser_, std::move(self));
                else
                    BOOST_ASIO_CORO_YIELD http::async_read_header(lowest(), x.conn_->buffer, *x.parser_, std::move(self));
                if (replace_stale(self, ec))
                    continue;
                if (failed(self, ec))
                    return;
                break;
            }

            begin(step::read_body);
            lowest().expires_after(to.response_body);
            if (ep.tls)
                BOOST_ASIO_CORO_YIELD http::async_read(*x.conn_->stream, x.conn_->buffer, *x.parser_, std::move(self));
            else
                BOOST_ASIO_CORO_YIELD http::async_read(lowest(), x.conn_->buffer, *x.parser_, std::move(self));
            if (failed(self, ec))
                return;
            lowest().expires_never();
            self.complete(error_code{});
        }
    }
};

template <class Handler>
void http_exchange::async_run(Handler&& handler)
{
    asio::async_compose<Handler, void(error_code)>(exchange_op{*this}, handler, conn_->strand);
}

exchange_limits limits_of(const auth_config& cfg, const service_impl& svc)
{
    return {cfg.timeouts, cfg.max_response_size, cfg.max_header_size,
            cfg.tls.insecure_disable_verification_i_know_what_i_am_doing, svc.config->connections};
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

/// A flight whose work is http_exchanges, cancelled with a signal (backoff
/// waits, the discovery wait) and through the exchange.
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
            on_stopped();
        return stopped_;
    }
    virtual void on_stopped() { this->finish(asio::error::operation_aborted, {}, T{}); }

    /// Starts `x_`; `then(ec)` runs on this flight's strand.
    template <class Then>
    void run_exchange(Then then)
    {
        auto self = this->shared_from_this();
        x_->start([self, strand = this->strand_, then = std::move(then)](error_code ec) mutable {
            asio::post(strand, [self, then = std::move(then), ec]() mutable { then(ec); });
        });
    }

    std::shared_ptr<http_exchange> x_;
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
        x_ = std::make_shared<http_exchange>(svc_, *ep, limits_of(*cfg_, *svc_), false);
        x_->request = make_request(http::verb::get, *ep, {{"Accept", "application/json"}, {"User-Agent", cfg_->user_agent}}, {});
        run_exchange([self = std::static_pointer_cast<discovery_job>(shared_from_this())](error_code ec) { self->done(ec); });
    }

    void done(error_code ec)
    {
        diagnostics diag;
        if (stopped())
            return;
        if (ec) {
            diag = x_->diag;
            if (diag.client_message().empty())
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

// ---------------------------------------------------------------------------
// token_job

/// Everything one fetch is for.
struct fetch_request {
    std::shared_ptr<const auth_config> cfg;
    grant_type grant = grant_type::client_credentials;
    actor_token subject;
    cache_key key;
    std::string refresh_token; ///< renew with it (RFC 6749 §6) when non-empty
    bool background = false;   ///< a refresh-ahead renewal: the result is for the cache
};

/// One token fetch for one cache key: [discovery] -> build -> exchange ->
/// parse, with retries, then the cache, then every waiter.
class token_job final : public http_flight<actor_token> {
public:
    token_job(std::shared_ptr<service_impl> svc, fetch_request req)
        : http_flight(svc->ex, req.background), svc_(std::move(svc)), req_(std::move(req)), timer_(strand_)
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = self()] {
            self->began_ = std::chrono::steady_clock::now();
            if (self->req_.cfg->token_endpoint.empty() && !self->req_.cfg->discovery_document_url.empty()) {
                self->discover();
            } else {
                self->resolved_ = self->req_.cfg;
                self->send();
            }
        });
    }

private:
    std::shared_ptr<token_job> self() { return std::static_pointer_cast<token_job>(shared_from_this()); }

    void discover()
    {
        if (stopped())
            return;
        trace(step::discover, false);
        get_metadata(svc_, req_.cfg, &discovery_diag_,
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
            fail(ec, diag);
            return;
        }
        auto resolved = std::make_shared<auth_config>(*req_.cfg);
        resolved->token_endpoint = md.token_endpoint;
        if (req_.cfg->auth_method_from_discovery) {
            auto m = choose_auth_method(md.token_endpoint_auth_methods_supported, *req_.cfg);
            if (!m) {
                diagnostics diag;
                access::client_message(diag) = "no token_endpoint_auth_methods_supported entry fits this configuration";
                fail(error::unsupported_auth_method, diag);
                return;
            }
            resolved->auth_method = *m;
        }
        resolved_ = std::move(resolved);
        send();
    }

    /// One attempt: a new request each time (a fresh client assertion).
    void send()
    {
        if (stopped())
            return;
        ++attempts_;
        diagnostics diag;
        grant_inputs in;
        in.grant = req_.grant;
        in.subject = &req_.subject;
        if (!refresh_rejected_)
            in.refresh_token = req_.refresh_token;
        const auto ep = svc_->parsed_token_endpoint(*resolved_);
        in.token_endpoint = ep.get();
        auto req = build_token_request(*resolved_, in, diag);
        if (!req) {
            fail(req.error(), diag);
            return;
        }
        x_ = std::make_shared<http_exchange>(svc_, req->endpoint, limits_of(*resolved_, *svc_), true);
        x_->request = make_request(http::verb::post, req->endpoint, req->fields, std::move(req->body));
        run_exchange([self = self()](error_code ec) { self->received(ec); });
    }

    void received(error_code ec)
    {
        if (stopped())
            return;
        if (ec) {
            retry_or_fail(ec, x_->diag);
            return;
        }
        x_->trace(step::parse, false);
        diagnostics diag;
        parse_options popts{x_->sent_at, resolved_->default_lifetime};
        auto token = parse_token_response(view_of(x_->response()), popts, diag);
        x_->release(); // free the body before completing
        x_->trace(step::parse, true, token ? error_code{} : token.error());
        if (token)
            succeed(std::move(*token));
        else
            retry_or_fail(token.error(), diag);
    }

    void retry_or_fail(error_code ec, const diagnostics& diag)
    {
        if (ec == asio::error::operation_aborted) {
            fail(ec, {});
            return;
        }
        if (ec == oauth_errc::invalid_grant && !req_.refresh_token.empty() && !refresh_rejected_) {
            // RFC 6749 §6: the refresh token was rejected; the original grant, once.
            refresh_rejected_ = true;
            {
                std::lock_guard lock(svc_->mtx);
                svc_->cache.drop_refresh_token(req_.key);
            }
            --attempts_;
            send();
            return;
        }
        auto delay = retry_delay(resolved_->retry, attempts_, ec, diag, random_unit());
        if (!delay) {
            fail(ec, diag);
            return;
        }
        svc_->report(metric::retry, ec, *delay);
        timer_.expires_after(*delay);
        timer_.async_wait(asio::bind_executor(
            strand_, asio::bind_cancellation_slot(cancel_.slot(), [self = self()](error_code) {
                if (!self->stopped())
                    self->send();
            })));
    }

    void succeed(actor_token token)
    {
        const auto now = std::chrono::system_clock::now();
        if (token.is_expired(now)) { // e.g. expires_in 0: never handed out, never cached
            diagnostics diag;
            access::client_message(diag) = "the token endpoint issued a token that had already expired";
            fail(error::invalid_expires_in, diag);
            return;
        }
        if (std::exchange(over_, true))
            return;
        const auto& cs = req_.cfg->cache;
        std::optional<sys_clock::time_point> subject_exp;
        if (req_.grant == grant_type::token_exchange)
            subject_exp = req_.subject.expires_at();
        std::optional<token_times> times;
        if (cs.enabled)
            times = token_lifetime(token, x_->sent_at, subject_exp, cs, random_unit());
        {
            std::lock_guard lock(svc_->mtx);
            if (times) {
                std::string rt(token.refresh_token().value_or(std::string_view()));
                if (rt.empty() && !refresh_rejected_)
                    rt = req_.refresh_token; // RFC 6749 §6: the old one stays valid when no new one is issued
                svc_->cache.store(req_.key, token, *times, std::move(rt));
            } else if (req_.background) {
                svc_->cache.renewal_failed(req_.key, now, now);
            }
            if (now - svc_->last_sweep > std::chrono::seconds(60)) {
                svc_->cache.sweep(now);
                svc_->last_sweep = now;
            }
            forget();
        }
        svc_->report(metric::fetch, {}, std::chrono::steady_clock::now() - began_);
        if (req_.background)
            svc_->report(metric::renewal_succeeded);
        finish({}, {}, token);
    }

    void fail(error_code ec, const diagnostics& diag)
    {
        if (std::exchange(over_, true))
            return;
        const auto now = std::chrono::system_clock::now();
        {
            std::lock_guard lock(svc_->mtx);
            auto ra = diag.retry_after();
            if (ra && ec != asio::error::operation_aborted)
                svc_->cache.block(req_.key, now + *ra, remembered_failure{ec, diag});
            // Stale-if-error: a renewal that failed is tried again later while the token is served.
            if (req_.background)
                svc_->cache.renewal_failed(req_.key, now, now + std::chrono::seconds(ra ? ra->count() : 0) + std::chrono::seconds(5));
            forget();
        }
        if (ec != asio::error::operation_aborted)
            svc_->report(req_.background ? metric::renewal_failed : metric::failure, ec);
        finish(ec, diag, {});
    }

    void on_stopped() override { fail(asio::error::operation_aborted, {}); }

    /// Removes this job from the in-flight map (service mutex held).
    void forget()
    {
        auto it = svc_->inflight.find(req_.key);
        if (it != svc_->inflight.end() && it->second.lock().get() == this)
            svc_->inflight.erase(it);
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
    fetch_request req_;
    std::shared_ptr<const auth_config> resolved_; // after discovery
    asio::steady_timer timer_;                    // backoff
    int attempts_ = 0;
    bool refresh_rejected_ = false;
    bool over_ = false; // succeed or fail ran
    diagnostics discovery_diag_; // written on the strand by the discovery waiter's completion
    std::chrono::steady_clock::time_point discover_start_{};
    std::chrono::steady_clock::time_point began_{};
};

// ---------------------------------------------------------------------------
// send_job: one authorized outgoing request (authorized_client)

using authorize_fn = std::function<void(http_client_options, diagnostics*, handler_of<actor_token>)>;

/// token -> request with Authorization -> response; after a 401, a forced
/// token and one more request. One caller, so the flight has one waiter.
class send_job final : public http_flight<authorized_client::response_type> {
public:
    send_job(std::shared_ptr<service_impl> svc, std::shared_ptr<const client_settings> settings, authorize_fn authorize,
             endpoint ep, authorized_client::request_type request, outgoing_options options)
        : http_flight(svc->ex), svc_(std::move(svc)), settings_(std::move(settings)), authorize_(std::move(authorize)),
          ep_(std::move(ep)), request_(std::move(request)), options_(std::move(options))
    {
    }

    void start()
    {
        asio::dispatch(strand_, [self = self()] { self->fetch_token(); });
    }

private:
    std::shared_ptr<send_job> self() { return std::static_pointer_cast<send_job>(shared_from_this()); }

    void fetch_token()
    {
        if (stopped())
            return;
        auto o = options_.authorization;
        if (forced_)
            o.force_authorization = true;
        authorize_(std::move(o), &diag_,
                   asio::bind_executor(strand_, asio::bind_cancellation_slot(cancel_.slot(),
                                                                              [self = self()](error_code ec, actor_token t) {
                                                                                  self->got_token(ec, std::move(t));
                                                                              })));
    }

    void got_token(error_code ec, actor_token token)
    {
        if (stopped())
            return;
        if (ec && ec != error::no_authorization) {
            finish(ec, diag_, {});
            return;
        }
        diag_.clear();
        sent_token_ = !token.empty();
        auto req = request_; // the header goes on this copy only
        if (sent_token_)
            req.set(http::field::authorization, token.authorization_header());
        else
            req.erase(http::field::authorization);
        if (!options_.correlation_id.empty() && !settings_->correlation_header.empty())
            req.set(settings_->correlation_header, options_.correlation_id);
        req.target(ep_.target);
        req.set(http::field::host, ep_.url.encoded_host_and_port());
        req.prepare_payload();
        exchange_limits limits{settings_->timeouts, settings_->max_response_size, settings_->max_header_size,
                               svc_->config->tls.insecure_disable_verification_i_know_what_i_am_doing,
                               svc_->config->connections};
        x_ = std::make_shared<http_exchange>(svc_, ep_, limits, false);
        x_->request = std::move(req);
        run_exchange([self = self()](error_code ec) { self->answered(ec); });
    }

    void answered(error_code ec)
    {
        if (stopped())
            return;
        if (ec) {
            finish(ec, x_->diag, {});
            return;
        }
        authorized_client::response_type res = std::move(x_->response());
        x_->release();
        if (res.result() == http::status::unauthorized && sent_token_ && !forced_) {
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
    bool sent_token_ = false;
    bool forced_ = false;
};

} // namespace
} // namespace detail

authorization_service::authorization_service(executor_type ex, auth_config config)
    : impl_(std::make_shared<detail::service_impl>(config))
{
    impl_->ex = std::move(ex);
    impl_->completion_ex = asio::any_completion_executor(impl_->ex);
    impl_->own_tls = detail::make_tls_context(config.tls);
    impl_->tls = impl_->own_tls.get();
    impl_->own_config_digest = detail::config_digest(config);
    impl_->config = std::make_shared<const auth_config>(std::move(config));
}

authorization_service::authorization_service(executor_type ex, ssl::context& tls, auth_config config)
    : impl_(std::make_shared<detail::service_impl>(config))
{
    impl_->ex = std::move(ex);
    impl_->completion_ex = asio::any_completion_executor(impl_->ex);
    impl_->tls = &tls;
    impl_->own_config_digest = detail::config_digest(config);
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

void authorization_service::set_metrics(metrics_hook hook) { impl_->metrics = std::move(hook); }

service_stats authorization_service::stats() const noexcept
{
    service_stats s;
    for (std::size_t i = 0; i < metric_count; ++i)
        s.counts[i] = impl_->counts[i].load(std::memory_order_relaxed);
    return s;
}

namespace detail {
namespace {

/// The grant for `options` and the cache key it is fetched under.
struct keyed_grant {
    /// options.auth_config or the service's: referred to, so that a cache hit
    /// touches no reference count shared with other threads.
    const std::shared_ptr<const auth_config>* cfg;
    grant_type grant;
    cache_key key;
};

boost::system::result<keyed_grant> key_of(service_impl& impl, const http_client_options& options, diagnostics& d)
{
    const auto& cfg = options.auth_config ? options.auth_config : impl.config;
    auto grant = impl.resolver ? impl.resolver(*cfg, options, d) : resolve_grant(cfg->grant, options.actor_token, d);
    if (grant && cfg->token_endpoint.empty() && cfg->discovery_document_url.empty()) {
        diagnostics_access::client_message(d) = "auth_config.token_endpoint and discovery_document_url are empty";
        grant = error::missing_token_endpoint;
    }
    if (!grant)
        return grant.error();
    // The service's own configuration is immutable; any other is digested once
    // per object and re-digested only when its fields change.
    const digest cd = cfg == impl.config ? impl.own_config_digest : impl.digests.get(cfg);
    return keyed_grant{&cfg, *grant, make_cache_key(cd, *grant, options.actor_token)};
}

} // namespace

/// A call that the cache did not serve (see authorization_service::lookup).
struct pending_call {
    std::shared_ptr<service_impl> impl;
    http_client_options options;
    std::shared_ptr<const auth_config> cfg;
    grant_type grant = grant_type::client_credentials;
    cache_key key{};
    error_code ec; ///< set: the call fails at once (grant choice, configuration), with `diag`
    std::unique_ptr<diagnostics> diag;
};

} // namespace detail

void authorization_service::pending_deleter::operator()(detail::pending_call* p) const noexcept { delete p; }

bool authorization_service::invalidate(http_client_options options)
{
    diagnostics d;
    auto k = detail::key_of(*impl_, options, d);
    if (!k)
        return false;
    std::lock_guard lock(impl_->mtx);
    return impl_->cache.invalidate(k->key);
}

void authorization_service::clear_cache()
{
    std::lock_guard lock(impl_->mtx);
    impl_->cache.clear();
}

std::size_t authorization_service::cache_size() const
{
    std::lock_guard lock(impl_->mtx);
    return impl_->cache.size();
}

authorization_service::pending_ptr authorization_service::lookup(const std::shared_ptr<detail::service_impl>& impl,
                                                                 http_client_options& options, actor_token& hit)
{
    using namespace detail;
    diagnostics d;
    auto k = key_of(*impl, options, d);
    if (!k) {
        pending_ptr p(new pending_call{impl, {}, {}, {}, {}, k.error(), std::make_unique<diagnostics>(std::move(d))});
        return p;
    }
    if ((*k->cfg)->cache.enabled && !options.force_authorization) {
        const auto now = std::chrono::system_clock::now();
        std::shared_ptr<token_job> renewal;
        bool served = false;
        {
            std::lock_guard lock(impl->mtx);
            const auto probe = impl->cache.probe(k->key, now, hit);
            served = probe != token_cache::probe_result::unusable;
            if (probe == token_cache::probe_result::renew) { // usable, and this caller starts the one background renewal
                auto r = impl->cache.lookup(k->key, now);
                hit = std::move(r.token);
                if (r.st == token_cache::state::renew) {
                    auto& slot = impl->inflight[k->key];
                    if (!slot.lock()) {
                        fetch_request req{*k->cfg, k->grant, options.actor_token, k->key, std::move(r.refresh_token), true};
                        renewal = std::make_shared<token_job>(impl, std::move(req));
                        slot = renewal;
                    } else { // a fetch already running renews the entry; if it fails, a later caller renews
                        impl->cache.renewal_failed(k->key, now, now);
                    }
                }
            }
        }
        if (served) {
            impl->report(metric::cache_hit);
            if (renewal) {
                impl->report(metric::renewal_started);
                renewal->start();
            }
            return nullptr;
        }
    }
    auto cfg = *k->cfg; // before `options` moves: it may be options.auth_config
    pending_ptr p(new pending_call{impl, std::move(options), std::move(cfg), k->grant, k->key, {}, {}});
    return p;
}

void authorization_service::initiate(const std::shared_ptr<detail::service_impl>& impl, http_client_options options,
                                     diagnostics* diag, asio::any_completion_handler<completion_signature> handler)
{
    using namespace detail;
    actor_token hit;
    auto pending = lookup(impl, options, hit);
    if (pending) {
        initiate_pending(std::move(pending), diag, std::move(handler));
        return;
    }
    auto w = std::make_shared<waiter<actor_token>>(std::move(handler), diag, impl->ex);
    watch_cancellation(w);
    complete_waiter<actor_token>(std::move(w), impl->ex, {}, {}, std::move(hit));
}

void authorization_service::initiate_pending(pending_ptr call, diagnostics* diag,
                                             asio::any_completion_handler<completion_signature> handler)
{
    using namespace detail;
    const auto& impl_ = call->impl;
    auto w = std::make_shared<waiter<actor_token>>(std::move(handler), diag, impl_->completion_ex);
    if (call->ec) {
        complete_waiter<actor_token>(std::move(w), impl_->ex, call->ec, *call->diag, {});
        return;
    }
    auto& options = call->options;
    const bool caching = call->cfg->cache.enabled;
    const auto now = std::chrono::system_clock::now();

    // The cache is looked up again under the lock: a fetch may have stored the
    // token since lookup(), and a miss needs the expired entry's refresh token.
    token_cache::lookup_result hit;
    std::shared_ptr<token_job> job, renewal;
    bool joined = false;
    {
        std::lock_guard lock(impl_->mtx);
        if (caching)
            hit = impl_->cache.lookup(call->key, now);
        if (options.force_authorization && hit.blocked) {
            hit.st = token_cache::state::blocked; // forcing does not override the server's Retry-After
        } else if (options.force_authorization) {
            if (hit.st == token_cache::state::renew)
                impl_->cache.renewal_failed(call->key, now, now); // not started after all: the fetch below renews
            if (caching && hit.st != token_cache::state::miss)
                hit.refresh_token = impl_->cache.refresh_token(call->key);
            hit.st = token_cache::state::miss;
        }
        if (hit.st == token_cache::state::renew || hit.st == token_cache::state::miss) {
            auto& slot = impl_->inflight[call->key];
            auto running = slot.lock();
            if (hit.st == token_cache::state::renew) {
                if (!running) { // one background renewal
                    fetch_request r{call->cfg, call->grant, options.actor_token, call->key, std::move(hit.refresh_token), true};
                    renewal = std::make_shared<token_job>(impl_, std::move(r));
                    slot = renewal;
                } else { // a fetch already running renews the entry; if it fails, a later caller renews
                    impl_->cache.renewal_failed(call->key, now, now);
                }
            } else if (running && running->add_waiter(w)) {
                joined = true;
            } else {
                fetch_request r{call->cfg, call->grant, std::move(options.actor_token), call->key,
                                std::move(hit.refresh_token), false};
                job = std::make_shared<token_job>(impl_, std::move(r));
                job->add_waiter(w);
                slot = job;
            }
        }
    }

    switch (hit.st) {
    case token_cache::state::fresh:
    case token_cache::state::renew:
        impl_->report(metric::cache_hit);
        watch_cancellation(w);
        complete_waiter<actor_token>(std::move(w), impl_->ex, {}, {}, std::move(hit.token));
        if (renewal) {
            impl_->report(metric::renewal_started);
            renewal->start();
        }
        return;
    case token_cache::state::blocked:
        impl_->report(metric::retry_after_honoured, hit.failure.ec);
        watch_cancellation(w);
        complete_waiter<actor_token>(std::move(w), impl_->ex, hit.failure.ec, hit.failure.diag, {});
        return;
    case token_cache::state::miss:
        impl_->report(joined ? metric::coalesced : metric::cache_miss);
        if (job)
            job->start();
        return;
    }
}

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
