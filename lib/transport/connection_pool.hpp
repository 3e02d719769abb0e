// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_CONNECTION_POOL_HPP
#define TETRAPAK_LIB_TRANSPORT_CONNECTION_POOL_HPP


#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

typedef struct ssl_session_st SSL_SESSION; // <openssl/ssl.h>

namespace tetrapak::detail {

struct connection; // transport/connection.hpp

struct connection_deleter {
    void operator()(connection* c) const noexcept;
};
using connection_ptr = std::unique_ptr<connection, connection_deleter>;

/// Idle keep-alive connections and the last TLS session, per endpoint key
/// (scheme, host, port, and whether the peer was verified). Thread-safe; its
/// mutex is never held across I/O.
class connection_pool {
public:
    /// The most recently used idle connection that is still open, if any.
    connection_ptr take(const std::string& key, std::chrono::milliseconds idle_timeout);

    /// Keeps `c` idle for the next request to `key`; the oldest idle one beyond
    /// `max_idle` is closed.
    void put(const std::string& key, connection_ptr c, std::size_t max_idle);

    /// The session to resume the next handshake with (null: none).
    std::shared_ptr<SSL_SESSION> session(const std::string& key);

    /// Keeps a copy of `s` (and releases `s`): OpenSSL marks a session
    /// unresumable when its connection is freed without a TLS shutdown, which
    /// is how idle connections the server closed end.
    void set_session(const std::string& key, SSL_SESSION* s);

    /// Forgets the session (after a failed certificate verification).
    void forget_session(const std::string& key);

private:
    struct per_endpoint {
        std::vector<connection_ptr> idle;
        std::shared_ptr<SSL_SESSION> session;
    };
    std::mutex mtx_;
    std::unordered_map<std::string, per_endpoint> eps_;
};

} // namespace tetrapak::detail

#endif
