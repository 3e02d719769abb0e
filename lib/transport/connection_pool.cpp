// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "connection_pool.hpp"

#include "connection.hpp"

#include <openssl/ssl.h>

#include <cerrno>

#include <sys/socket.h>

namespace tetrapak::detail {

void connection_deleter::operator()(connection* c) const noexcept { delete c; }

namespace {

/// An idle connection the server closed (or wrote to) is not reused: a
/// non-blocking peek sees the FIN, a reset or stray bytes. One system call
/// (MSG_DONTWAIT): switching the socket to non-blocking and back around an
/// Asio peek costs two ioctls more.
bool still_open(connection& c)
{
    auto& sock = c.tcp().socket();
    if (!sock.is_open())
        return false;
    char byte;
    const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

} // namespace

connection_ptr connection_pool::take(const std::string& key, std::chrono::milliseconds idle_timeout)
{
    std::vector<connection_ptr> dead; // closed outside the lock
    connection_ptr found;
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
    return found;
}

void connection_pool::put(const std::string& key, connection_ptr c, std::size_t max_idle)
{
    connection_ptr drop; // closed outside the lock
    c->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mtx_);
    auto& idle = eps_[key].idle;
    idle.push_back(std::move(c));
    if (idle.size() > max_idle) {
        drop = std::move(idle.front());
        idle.erase(idle.begin());
    }
}

std::shared_ptr<SSL_SESSION> connection_pool::session(const std::string& key)
{
    std::lock_guard lock(mtx_);
    auto it = eps_.find(key);
    return it == eps_.end() ? nullptr : it->second.session;
}

void connection_pool::set_session(const std::string& key, SSL_SESSION* s)
{
    SSL_SESSION* copy = SSL_SESSION_dup(s);
    SSL_SESSION_free(s);
    if (!copy)
        return;
    std::shared_ptr<SSL_SESSION> p(copy, [](SSL_SESSION* x) { SSL_SESSION_free(x); });
    std::lock_guard lock(mtx_);
    eps_[key].session.swap(p);
}

void connection_pool::forget_session(const std::string& key)
{
    std::shared_ptr<SSL_SESSION> p; // freed outside the lock
    std::lock_guard lock(mtx_);
    if (auto it = eps_.find(key); it != eps_.end())
        it->second.session.swap(p);
}

} // namespace tetrapak::detail
