// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_FAULT_SERVER_HPP
#define TETRAPAK_TEST_FAULT_SERVER_HPP

// An in-process server on 127.0.0.1 that misbehaves on purpose, for faults the
// real authorization server never produces. Each accepted connection runs a
// blocking script on the server's own thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace tetrapak::test {

class fault_server {
public:
    using socket = boost::asio::ip::tcp::socket;
    using script = std::function<void(socket&)>;

    /// Listens on 127.0.0.1:`port` (0: any free port).
    explicit fault_server(script s, unsigned short port = 0);
    ~fault_server();

    unsigned short port() const noexcept { return port_; }
    std::string url(std::string_view scheme = "https", std::string_view path = "/token") const;
    int connections() const noexcept { return connections_.load(); }

private:
    boost::asio::io_context ctx_;
    boost::asio::ip::tcp::acceptor acceptor_;
    script script_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    unsigned short port_ = 0;
    std::thread thread_;
};

/// A server-side TLS context with a certificate pair from cert_dir().
boost::asio::ssl::context server_tls_context(const std::string& cert = "server");

using tls_stream = boost::asio::ssl::stream<fault_server::socket&>;

/// Reads until the peer closes (or the 10 s socket timeout): a stall.
void stall(fault_server::socket& s);
/// Reads one HTTP request from a TLS stream (headers and body).
void read_request(tls_stream& s);
void read_request(fault_server::socket& s);
/// Closes with an RST (linger 0) instead of a FIN.
void reset(fault_server::socket& s);
/// An HTTP/1.1 answer with a JSON content type, a Content-Length and `extra` header lines.
std::string http(const std::string& status, const std::string& body, const std::string& extra = {});
/// RFC 7231 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string imf_fixdate(std::chrono::system_clock::time_point tp);
/// An answer for `serving` that stands for "reset the connection instead".
extern const std::string reset_marker;
/// TLS, then serves requests on the connection until the client goes or an
/// answer carries Connection: close. `answer(n)` is the answer to the n-th
/// request the server has read (1-based, counted across connections in
/// `requests`); reset_marker resets the connection instead.
fault_server::script serving(std::atomic<int>& requests, std::function<std::string(int)> answer);
/// Writes raw bytes; ignores errors (the client may have gone).
void write_raw(tls_stream& s, std::string_view bytes);
void write_raw(fault_server::socket& s, std::string_view bytes);

} // namespace tetrapak::test

#endif
