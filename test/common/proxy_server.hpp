// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_PROXY_SERVER_HPP
#define TETRAPAK_TEST_PROXY_SERVER_HPP

// Starts a real HTTP proxy (tinyproxy 1.11, Debian package tinyproxy-bin) on
// 127.0.0.1 with its own configuration, log and pid file in a private temp
// directory. The system's tinyproxy service (if any) is not used.
//
// What tinyproxy 1.11 answers (checked against 1.11.1):
//   CONNECT to a port not in allow_connect_ports   403 "Access violation"
//   no Proxy-Authorization when auth is required    407 (with Proxy-Authenticate: Basic realm="Tinyproxy")
//   wrong Proxy-Authorization                       401 "Unauthorized" (a tinyproxy quirk: not 407)
//   any request when deny_all                       403 "Access denied", as soon as the client has sent
//                                                   something (a silent client waits Timeout, 120 s)
//   target refusing the connection                  500 "Unable to connect"
//   tunnel opened                                   "HTTP/1.0 200 Connection established", no body
// Each client connection carries one request: tinyproxy answers
// "Connection: close" (no keep-alive to the proxy itself).
//
// The child is started with fork/execve and PR_SET_PDEATHSIG(SIGKILL), so it
// dies with the test process. Linux delivers that signal when the *thread*
// that forked exits: create proxy_server objects on a thread that outlives them
// (the test's main thread, as usual).

#include <string>
#include <vector>

namespace tetrapak::test {

struct proxy_options {
    /// Both non-empty: require Basic proxy auth (tinyproxy BasicAuth). tinyproxy
    /// only accepts [-A-Za-z0-9._] in either; anything else throws std::invalid_argument.
    std::string username{}, password{};
    /// Empty: CONNECT to any port. Else only to these (ConnectPort); {0} refuses every CONNECT.
    std::vector<unsigned short> allow_connect_ports{};
    /// Answer every client with 403 (only a TEST-NET address is allowed, never 127.0.0.1).
    bool deny_all = false;
};

class proxy_server {
public:
    explicit proxy_server(proxy_options opts = {});
    ~proxy_server();
    proxy_server(const proxy_server&) = delete;
    proxy_server& operator=(const proxy_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string url() const;                  ///< http://127.0.0.1:PORT
    std::string url_with_credentials() const; ///< http://user:pass@127.0.0.1:PORT (percent-encoded); url() without auth

    /// CONNECT tunnels the proxy opened: the log lines tinyproxy writes (LogLevel
    /// Info) once the TCP connection to the CONNECT target is up, just before it
    /// answers 200 ("Not sending client headers to remote machine"; no upstream
    /// proxy is configured, so only CONNECT reaches that line). Refused (403/407/
    /// 401) and failed (500) CONNECTs are not counted.
    long connect_count() const;
    /// Requests read from clients: the "Request (file descriptor N): METHOD ..."
    /// lines, written as soon as a request line is read, so they include CONNECTs
    /// and plain forwarded requests, and also those then refused for auth or port.
    /// Not counted: connections refused by the access list (deny_all, before any
    /// request is read) and connections that close without a request line.
    long request_count() const;
    /// The whole tinyproxy log (for diagnostics).
    std::string log() const;

    /// Kill the proxy now (SIGTERM, SIGKILL after 1 s). port() stays the dead
    /// port; the log (and so the counts) stay readable until destruction.
    void stop();
    bool running() const noexcept { return pid_ > 0; }

private:
    bool start(std::string& failure);
    void write_config() const;
    bool wait_ready(std::string& failure);
    long count_lines(const char* needle) const;

    proxy_options opts_;
    std::string dir_;
    int pid_ = -1;
    unsigned short port_ = 0;
};

} // namespace tetrapak::test

#endif
