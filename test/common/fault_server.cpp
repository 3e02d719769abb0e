// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "fault_server.hpp"
#include "oidc_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <ctime>

#include <sys/socket.h>
#include <sys/time.h>

namespace tetrapak::test {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

fault_server::fault_server(script s, unsigned short port)
    : acceptor_(ctx_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)), script_(std::move(s))
{
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
        while (!stop_) {
            tcp::socket sock(ctx_);
            boost::system::error_code ec;
            acceptor_.accept(sock, ec);
            if (ec || stop_)
                break;
            ++connections_;
            timeval tv{10, 0};
            setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            try {
                script_(sock);
            } catch (const std::exception&) {
                // the client went away: expected for most faults
            }
            sock.close(ec);
        }
    });
}

fault_server::~fault_server()
{
    stop_ = true;
    // Wake the blocking accept with a throw-away connection.
    boost::system::error_code ec;
    asio::io_context tmp;
    tcp::socket s(tmp);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
}

std::string fault_server::url(std::string_view scheme, std::string_view path) const
{
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

asio::ssl::context server_tls_context(const std::string& cert)
{
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(cert_dir() + "/" + cert + ".pem");
    ctx.use_private_key_file(cert_dir() + "/" + cert + ".key", asio::ssl::context::pem);
    return ctx;
}

void stall(fault_server::socket& s)
{
    char buf[4096];
    boost::system::error_code ec;
    while (!ec)
        s.read_some(asio::buffer(buf), ec);
}

template <class Stream>
static void read_request_impl(Stream& s)
{
    boost::beast::flat_buffer buf;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::read(s, buf, req);
}

void read_request(tls_stream& s) { read_request_impl(s); }
void read_request(fault_server::socket& s) { read_request_impl(s); }

void write_raw(tls_stream& s, std::string_view bytes)
{
    boost::system::error_code ec;
    asio::write(s, asio::buffer(bytes), ec);
}

void reset(fault_server::socket& s)
{
    s.set_option(asio::socket_base::linger(true, 0));
    boost::system::error_code ec;
    s.close(ec);
}

std::string http(const std::string& status, const std::string& body, const std::string& extra)
{
    return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra + "\r\n" + body;
}

std::string imf_fixdate(std::chrono::system_clock::time_point tp)
{
    std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

const std::string reset_marker = "<reset>";

fault_server::script serving(std::atomic<int>& requests, std::function<std::string(int)> answer)
{
    return [&requests, answer = std::move(answer)](fault_server::socket& s) {
        auto tls = server_tls_context();
        tls_stream st(s, tls);
        st.handshake(asio::ssl::stream_base::server);
        for (;;) {
            read_request(st); // throws when the client goes
            const int n = ++requests;
            std::string r = answer(n);
            if (r == reset_marker) {
                reset(s);
                return;
            }
            write_raw(st, r);
            if (r.find("Connection: close") != std::string::npos)
                return;
        }
    };
}

void write_raw(fault_server::socket& s, std::string_view bytes)
{
    boost::system::error_code ec;
    asio::write(s, asio::buffer(bytes), ec);
}

} // namespace tetrapak::test
