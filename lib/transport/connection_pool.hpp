// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_CONNECTION_POOL_HPP
#define TETRAPAK_LIB_TRANSPORT_CONNECTION_POOL_HPP


#include <chrono>
#include <cstddef>
#include <deque>
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

/// A request waiting for one of an endpoint's connections. Its state is
/// guarded by the endpoint_slots' mutex; wake() is called without it, from
/// whichever thread freed the slot, and must only schedule work.
class slot_request {
public:
    enum class state { waiting, granted, handed, withdrawn };

    virtual void wake() = 0;

    state status = state::waiting;
    connection_ptr handed; ///< an idle connection passed on with its slot (state handed)

protected:
    ~slot_request() = default;
};

/// The bound on one endpoint's open connections (in use and idle): a
/// connection holds a slot from its creation to its destruction. Requests
/// beyond the bound wait in arrival order; a freed slot, or a connection
/// going idle, goes to the first of them. Shared by the pool and the
/// connections, so either may outlive the other.
class endpoint_slots {
public:
    /// Takes a free slot (true), or queues `r` (false: r->wake() comes later).
    bool acquire_or_queue(std::size_t max, const std::shared_ptr<slot_request>& r);

    /// Frees a slot: the first waiting request gets it.
    void release() noexcept;

    /// Gives an idle connection (and its slot) to the first waiting request;
    /// false when none waits (`c` is untouched).
    bool hand_over(connection_ptr& c);

    /// Ends `r`'s wait: true when it already got a slot (granted or handed),
    /// false when it was still queued (it is removed).
    bool withdraw(const std::shared_ptr<slot_request>& r);

    std::size_t open() const;

private:
    std::shared_ptr<slot_request> next_waiting(); // under mtx_

    mutable std::mutex mtx_;
    std::size_t open_ = 0;
    std::deque<std::shared_ptr<slot_request>> queue_;
};

/// Idle keep-alive connections and the last TLS session, per endpoint key
/// (scheme, host, port, and whether the peer was verified). Thread-safe; its
/// mutex is never held across I/O.
class connection_pool {
public:
    /// The connection bound of `key` (made on first use).
    std::shared_ptr<endpoint_slots> slots(const std::string& key);

    /// The most recently used idle connection that is still open, if any.
    connection_ptr take(const std::string& key, std::chrono::milliseconds idle_timeout);

    /// Keeps `c` idle for the next request to `key` (or hands it to a request
    /// waiting for a connection); the oldest idle one beyond `max_idle` is closed.
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
        std::shared_ptr<endpoint_slots> slots = std::make_shared<endpoint_slots>();
        std::vector<connection_ptr> idle;
        std::shared_ptr<SSL_SESSION> session;
    };
    std::mutex mtx_;
    std::unordered_map<std::string, per_endpoint> eps_;
};

} // namespace tetrapak::detail

#endif
