// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "connection_pool.hpp"

#include "connection.hpp"

#include <openssl/ssl.h>

#include <algorithm>
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

bool endpoint_slots::acquire_or_queue(std::size_t max, const std::shared_ptr<slot_request>& r)
{
    std::lock_guard lock(mtx_);
    if (queue_.empty() && open_ < max) {
        ++open_;
        return true;
    }
    r->status = slot_request::state::waiting;
    queue_.push_back(r);
    return false;
}

std::shared_ptr<slot_request> endpoint_slots::next_waiting()
{
    if (queue_.empty())
        return nullptr;
    auto r = std::move(queue_.front()); // only waiting requests are queued (withdraw removes)
    queue_.pop_front();
    return r;
}

void endpoint_slots::release() noexcept
{
    std::shared_ptr<slot_request> next;
    {
        std::lock_guard lock(mtx_);
        next = next_waiting();
        if (next)
            next->status = slot_request::state::granted; // the slot passes on: open_ is unchanged
        else if (open_ > 0)
            --open_;
    }
    if (next)
        next->wake();
}

bool endpoint_slots::hand_over(connection_ptr& c)
{
    std::shared_ptr<slot_request> next;
    {
        std::lock_guard lock(mtx_);
        next = next_waiting();
        if (!next)
            return false;
        next->status = slot_request::state::handed;
        next->handed = std::move(c);
    }
    next->wake();
    return true;
}

bool endpoint_slots::withdraw(const std::shared_ptr<slot_request>& r)
{
    std::lock_guard lock(mtx_);
    if (r->status == slot_request::state::waiting) {
        r->status = slot_request::state::withdrawn;
        queue_.erase(std::find(queue_.begin(), queue_.end(), r));
        return false;
    }
    return r->status != slot_request::state::withdrawn;
}

std::size_t endpoint_slots::open() const
{
    std::lock_guard lock(mtx_);
    return open_;
}

std::shared_ptr<endpoint_slots> connection_pool::slots(const std::string& key)
{
    std::lock_guard lock(mtx_);
    return eps_[key].slots;
}

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
    if (c->slots && c->slots->hand_over(c))
        return;
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
