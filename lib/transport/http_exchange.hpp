// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_HTTP_EXCHANGE_HPP
#define TETRAPAK_LIB_TRANSPORT_HTTP_EXCHANGE_HPP

// The transport's narrow interface: one HTTP(S) request and its response over
// a pooled or new connection. It knows nothing of tokens. Its only
// implementation file, http_exchange.cpp, is the one translation unit that
// instantiates Beast over the TLS stream.

#include "connection_pool.hpp"
#include "dpop_nonces.hpp"
#include "proxy_route.hpp"

#include "../detail/counters.hpp"

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/trace.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio::ssl { class context; }
namespace tetrapak { class dpop_key; }

namespace tetrapak::detail {

/// What the transport needs from the service that owns it.
struct transport_context {
    boost::asio::any_io_executor ex;          ///< where connections live
    boost::asio::ssl::context* tls = nullptr; ///< outlives every exchange
    connection_pool pool;
    proxy_router proxies;
    dpop_nonce_store dpop_nonces; ///< the latest DPoP-Nonce per origin
    event_counters* counters = nullptr; ///< connection_opened, connection_reused, tls_resumed
    trace_hook trace;                   ///< set before first use
};

/// The bounds of one exchange.
struct exchange_limits {
    tetrapak::timeouts timeouts;
    std::size_t max_body = 0;
    std::size_t max_header = 0;
    bool insecure_skip_verify = false;
    connection_settings connections;
};

/// A request that carries a DPoP proof (RFC 9449): signed with `key` at each
/// write, with the origin's latest nonce, and `ath` of `access_token` when
/// that is set (a resource request; empty at a token endpoint).
struct dpop_binding {
    std::shared_ptr<const dpop_key> key;
    std::string access_token;
};

/// Told when an exchange has ended, on the strand the exchange ran on.
class exchange_owner {
public:
    virtual void exchange_done(boost::system::error_code ec) = 0;

protected:
    ~exchange_owner() = default;
};

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// A request with Host, the fields and (for POST) the body.
http_request make_request(boost::beast::http::verb method, const endpoint& ep, const std::vector<http_field>& fields,
                          std::string body);

/// What the pure parsers read of a response.
http_response_view view_of(http_response& res);

/// One request and its response:
/// [take a pooled connection | wait for a slot | resolve -> connect
///  [-> CONNECT through the proxy] -> TLS handshake] -> write -> read.
/// With a proxy, resolve and connect reach the proxy; an http:// target is
/// then asked for in absolute form, an https:// one through a tunnel.
/// The connection goes back to the pool when the answer was read in full and
/// the server keeps it open; after a failure or a cancellation it is closed.
class http_exchange : public std::enable_shared_from_this<http_exchange> {
public:
    http_exchange(std::shared_ptr<transport_context> tc, endpoint ep, exchange_limits limits, bool traced);
    ~http_exchange();
    http_exchange(const http_exchange&) = delete;
    http_exchange& operator=(const http_exchange&) = delete;

    http_request request;
    diagnostics diag; ///< transport details (TLS verification)
    std::chrono::system_clock::time_point sent_at{};
    /// Set before start: the request carries a fresh DPoP proof, and the
    /// answer's DPoP-Nonce is kept for the origin.
    std::optional<dpop_binding> dpop;

    /// The answer carried a DPoP-Nonce header (a new nonce to retry with).
    bool dpop_nonce_received() const noexcept { return dpop_nonce_received_; }

    http_response& response() { return parser_->get(); }
    /// Frees the response (before the owner completes its callers).
    void release() { parser_.reset(); }

    /// Runs the exchange; call on `strand`, where every step and
    /// `owner->exchange_done` run (never inside this call). The connection
    /// needs no strand of its own: it is this exchange's alone.
    void start(boost::asio::any_io_executor strand, std::shared_ptr<exchange_owner> owner);

    /// Stops the exchange (call on its strand, after start): it ends with
    /// operation_aborted and its connection is closed.
    void cancel();

    /// Reports a step to the trace hook (when this exchange is traced).
    void trace(step s, bool finished, boost::system::error_code ec = {});

private:
    friend struct exchange_op;
    struct resolve_state;
    struct slot_wait;
    struct tunnel;

    const std::string& peer_host() const { return proxy_ ? proxy_->host : ep_.host; }
    const std::string& peer_port() const { return proxy_ ? proxy_->port : ep_.port; }
    bool peer_is_ip() const { return proxy_ ? proxy_->host_is_ip : ep_.host_is_ip; }
    void prepare_tunnel();
    boost::system::error_code sign_dpop();
    void keep_dpop_nonce();
    std::string origin() const;
    boost::system::error_code tunnel_result(boost::system::error_code ec);

    void take_connection();
    boost::system::error_code end_connection_wait(bool cancelled);
    void new_parser();
    void set_deadline(std::chrono::milliseconds timeout);
    void wait_for_deadline();
    void on_deadline();
    void finished(boost::system::error_code ec);
    boost::system::error_code prepare_tls();
    boost::system::error_code translate(step s, boost::system::error_code ec);
    bool stale(boost::system::error_code ec) const;

    std::shared_ptr<transport_context> tc_;
    endpoint ep_;
    exchange_limits limits_;
    bool traced_;
    std::string pool_key_;
    std::shared_ptr<const proxy_endpoint> proxy_; ///< null: direct
    boost::system::error_code setup_ec_;         ///< the proxy could not be chosen (reported at start)
    std::unique_ptr<tunnel> tunnel_;             ///< the CONNECT request and answer, while they are in flight
    boost::asio::any_io_executor strand_;
    connection_ptr conn_;
    bool reused_ = false;
    std::shared_ptr<endpoint_slots> slots_;     ///< the endpoint's connection bound (null: unbounded)
    std::shared_ptr<slot_wait> wait_;           ///< set while waiting for a connection slot
    boost::asio::cancellation_signal sig_;
    std::optional<boost::asio::ip::tcp::resolver> resolver_;
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
    boost::asio::ip::tcp::resolver::results_type endpoints_;
    std::chrono::steady_clock::time_point step_start_{};
    std::optional<boost::asio::steady_timer> deadline_; ///< the exchange's one timer (set_deadline)
    std::chrono::steady_clock::time_point step_deadline_{};
    bool deadline_armed_ = false; ///< a wait on deadline_ is pending
    bool timed_out_ = false;      ///< the deadline passed: the socket was closed
    bool done_ = false;           ///< finished() ran
    bool dpop_nonce_received_ = false;
};

} // namespace tetrapak::detail

#endif
