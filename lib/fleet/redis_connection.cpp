// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "redis_connection.hpp"

#include "../detail/strand.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>

namespace tetrapak::detail {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;
using handler_type = asio::any_completion_handler<redis_signature>;

namespace {
constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

struct reader_free {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
using reader_ptr = std::unique_ptr<redisReader, reader_free>;

redis_reply copy_reply(const redisReply& r)
{
    redis_reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
    case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
    default: out.type = redis_reply::kind::nil; break;
    }
    if (r.str)
        out.str.assign(r.str, r.len);
    out.integer = r.integer;
    for (std::size_t i = 0; i < r.elements; ++i)
        out.elements.push_back(copy_reply(*r.element[i]));
    return out;
}

/// The RESP form of `cmd` (binary-safe).
std::string format_command(const redis_command& cmd)
{
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : cmd) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* raw = nullptr;
    const int n = redisFormatCommandArgv(&raw, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (n < 0 || !raw)
        throw std::bad_alloc();
    std::string out(raw, static_cast<std::size_t>(n));
    redisFreeCommand(raw);
    return out;
}

bool is_message(const redis_reply& r)
{
    return r.type == redis_reply::kind::array && !r.elements.empty() &&
           (r.elements[0].str == "message" || r.elements[0].str == "pmessage");
}
} // namespace

struct redis_connection::state : std::enable_shared_from_this<state> {
    state(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls, redis_endpoint e, redis_limits l)
        : strand(make_strand_for(ex)), tls_ctx(std::move(tls)), ep(std::move(e)), lim(l), timer(strand)
    {
    }

    struct pending {
        std::optional<handler_type> handler; ///< empty: cancelled, or a command of the connection's own
        steady::time_point deadline;
        std::uint64_t id = 0;
        bool own = false; ///< AUTH, SELECT, on_open: an error reply fails the connection
    };
    enum class phase { closed, opening, open };

    asio::any_io_executor strand;
    std::shared_ptr<asio::ssl::context> tls_ctx;
    redis_endpoint ep;
    redis_limits lim;
    std::vector<redis_command> on_open;
    std::function<void(redis_reply)> push;

    // Everything below: on the strand only.
    phase ph = phase::closed;
    std::uint64_t generation = 0; ///< a new one per connection: late completions of an old one are ignored
    /// The socket of one connection, shared with the coroutines that use it:
    /// an SSL stream's operations touch it after the socket is closed.
    struct link {
        std::unique_ptr<tcp::socket> plain;
        std::unique_ptr<asio::ssl::stream<tcp::socket>> secure;
        void close()
        {
            error_code ignored;
            (secure ? secure->next_layer() : *plain).close(ignored);
        }
    };
    std::shared_ptr<link> conn;
    reader_ptr reader;
    std::deque<pending> queue; ///< in the order replies will come
    std::string out;           ///< formatted, not yet written
    bool writing = false;
    bool closing = false; ///< close_when_idle(): close when the queue empties
    /// A name lookup is still running (possibly of a connection given up):
    /// no second one is queued behind it on Asio's one resolver thread.
    bool resolving = false;
    steady::time_point open_deadline{};
    asio::steady_timer timer;
    std::atomic<std::uint64_t> next_id{1}; ///< taken by callers on their own threads
    std::atomic<bool> is_open{false};

    void submit(std::uint64_t id, redis_command cmd, handler_type h);
    void cancel(std::uint64_t id);
    void start_open();
    asio::awaitable<void> open(std::uint64_t gen);
    asio::awaitable<error_code> connect_socket(link& l);
    void opened();
    void write_more();
    asio::awaitable<void> write_loop(std::uint64_t gen);
    asio::awaitable<void> read_loop(std::uint64_t gen);
    void deliver(redis_reply r);
    void fail(std::uint64_t gen, error_code ec);
    void arm_timer();
    void complete(pending& p, error_code ec, redis_reply r);
    void destroy_handlers();
};

/// Knows the connections of one execution context, and destroys their queued
/// handlers (never running them) when the context shuts down: no thread runs
/// the context then, so the strand-only state may be touched.
class redis_connection::registry : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;

    explicit registry(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

    void add(const std::shared_ptr<state>& st)
    {
        std::lock_guard lock(mtx_);
        std::erase_if(states_, [](const std::weak_ptr<state>& w) { return w.expired(); });
        states_.push_back(st);
    }

private:
    void shutdown() override
    {
        std::vector<std::shared_ptr<state>> live;
        {
            std::lock_guard lock(mtx_);
            for (const auto& w : states_)
                if (auto st = w.lock())
                    live.push_back(std::move(st));
            states_.clear();
        }
        // Outside the lock: a destroyed handler may destroy a connection.
        for (const auto& st : live)
            st->destroy_handlers();
    }

    std::mutex mtx_;
    std::vector<std::weak_ptr<state>> states_;
};

void redis_connection::state::submit(std::uint64_t id, redis_command cmd, handler_type h)
{
    if (ph == phase::closed && resolving) { // DNS is stuck: do not pile lookups up
        pending p{std::move(h), {}, id, false};
        complete(p, error::redis_unavailable, {});
        return;
    }
    const auto budget = ph == phase::open ? lim.command : lim.connect + lim.command;
    out += format_command(cmd);
    queue.push_back(pending{std::move(h), steady::now() + budget, id, false});
    if (ph == phase::closed)
        start_open();
    else if (ph == phase::open)
        write_more();
    arm_timer();
}

void redis_connection::state::cancel(std::uint64_t id)
{
    for (auto& p : queue) {
        if (p.id == id && p.handler) {
            complete(p, asio::error::operation_aborted, {});
            return;
        }
    }
}

void redis_connection::state::start_open()
{
    ph = phase::opening;
    const auto gen = ++generation;
    open_deadline = steady::now() + lim.connect;
    asio::co_spawn(strand, open(gen), asio::detached);
}

asio::awaitable<error_code> redis_connection::state::connect_socket(link& l)
{
    auto& secure = l.secure;
    tcp::resolver resolver(strand);
    resolving = true;
    auto [rec, results] = co_await resolver.async_resolve(ep.host, ep.port, awaitable_tuple);
    resolving = false;
    if (rec)
        co_return rec;
    tcp::socket& sock = secure ? secure->next_layer() : *l.plain;
    auto [cec, unused] = co_await asio::async_connect(sock, results, awaitable_tuple);
    (void)unused;
    if (cec || !secure)
        co_return cec;
    error_code not_ip;
    asio::ip::make_address(ep.host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(secure->native_handle(), ep.host.c_str())) // SNI: names only
        co_return error::redis_unavailable;
    secure->set_verify_mode(asio::ssl::verify_peer);
    secure->set_verify_callback(asio::ssl::host_name_verification(ep.host));
    auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::client, awaitable_tuple);
    co_return hec;
}

asio::awaitable<void> redis_connection::state::open(std::uint64_t gen)
{
    auto self = shared_from_this();
    auto l = std::make_shared<link>();
    if (ep.tls)
        l->secure = std::make_unique<asio::ssl::stream<tcp::socket>>(strand, *tls_ctx);
    else
        l->plain = std::make_unique<tcp::socket>(strand);
    conn = l;
    const error_code ec = co_await connect_socket(*l);
    if (gen != generation)
        co_return;
    if (ec) {
        fail(gen, error::redis_unavailable);
        co_return;
    }
    opened();
    asio::co_spawn(strand, read_loop(gen), asio::detached);
}

/// The connection is up: AUTH, SELECT and the subscriber's commands go before
/// everything queued meanwhile.
void redis_connection::state::opened()
{
    std::vector<redis_command> first;
    if (!ep.password.empty()) {
        if (ep.username.empty())
            first.push_back({"AUTH", ep.password});
        else
            first.push_back({"AUTH", ep.username, ep.password});
    }
    if (ep.database != 0)
        first.push_back({"SELECT", std::to_string(ep.database)});
    first.insert(first.end(), on_open.begin(), on_open.end());
    std::string head;
    const auto deadline = steady::now() + lim.command;
    for (auto it = first.rbegin(); it != first.rend(); ++it)
        queue.push_front(pending{std::nullopt, deadline, 0, true});
    for (const auto& c : first)
        head += format_command(c);
    out.insert(0, head);
    reader.reset(redisReaderCreate());
    ph = phase::open;
    is_open = true;
    write_more();
    arm_timer();
}

void redis_connection::state::write_more()
{
    if (writing || out.empty() || ph != phase::open)
        return;
    writing = true;
    asio::co_spawn(strand, write_loop(generation), asio::detached);
}

asio::awaitable<void> redis_connection::state::write_loop(std::uint64_t gen)
{
    auto self = shared_from_this();
    auto l = conn;
    std::string buf;
    while (gen == generation && !out.empty()) {
        buf.clear();
        buf.swap(out);
        error_code ec;
        if (l->secure)
            std::tie(ec, std::ignore) = co_await asio::async_write(*l->secure, asio::buffer(buf), awaitable_tuple);
        else
            std::tie(ec, std::ignore) = co_await asio::async_write(*l->plain, asio::buffer(buf), awaitable_tuple);
        if (gen != generation)
            co_return;
        if (ec) {
            fail(gen, error::redis_unavailable);
            co_return;
        }
    }
    if (gen == generation)
        writing = false;
}

asio::awaitable<void> redis_connection::state::read_loop(std::uint64_t gen)
{
    auto self = shared_from_this();
    auto l = conn;
    std::array<char, 16 * 1024> buf;
    for (;;) {
        error_code ec;
        std::size_t n = 0;
        if (l->secure)
            std::tie(ec, n) = co_await l->secure->async_read_some(asio::buffer(buf), awaitable_tuple);
        else
            std::tie(ec, n) = co_await l->plain->async_read_some(asio::buffer(buf), awaitable_tuple);
        if (gen != generation)
            co_return;
        if (ec || redisReaderFeed(reader.get(), buf.data(), n) != REDIS_OK ||
            reader->len - reader->pos > lim.max_buffered) {
            fail(gen, error::redis_unavailable);
            co_return;
        }
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
                fail(gen, error::redis_unavailable);
                co_return;
            }
            if (!raw)
                break;
            auto r = copy_reply(*static_cast<redisReply*>(raw));
            freeReplyObject(raw);
            deliver(std::move(r));
            if (gen != generation)
                co_return;
        }
    }
}

void redis_connection::state::deliver(redis_reply r)
{
    if (push && is_message(r)) {
        push(std::move(r));
        return;
    }
    if (queue.empty()) { // a reply nobody asked for: the stream is out of step
        fail(generation, error::redis_unavailable);
        return;
    }
    auto p = std::move(queue.front());
    queue.pop_front();
    const bool refused = r.type == redis_reply::kind::error;
    if (p.own && refused) {
        fail(generation, error::redis_refused);
        return;
    }
    if (p.handler)
        complete(p, refused ? error_code(error::redis_error_reply) : error_code(), std::move(r));
    if (closing && queue.empty())
        fail(generation, asio::error::operation_aborted);
    else
        arm_timer();
}

void redis_connection::state::fail(std::uint64_t gen, error_code ec)
{
    if (gen != generation)
        return;
    ++generation;
    ph = phase::closed;
    is_open = false;
    if (conn)
        conn->close();
    conn.reset();
    out.clear();
    writing = false;
    auto failed = std::move(queue);
    queue.clear();
    timer.cancel();
    for (auto& p : failed)
        if (p.handler)
            complete(p, ec, {});
}

void redis_connection::state::arm_timer()
{
    steady::time_point next = steady::time_point::max();
    if (ph == phase::opening)
        next = open_deadline;
    for (const auto& p : queue)
        next = std::min(next, p.deadline);
    if (next == steady::time_point::max()) {
        timer.cancel();
        return;
    }
    if (timer.expiry() == next)
        return;
    timer.expires_at(next);
    timer.async_wait([w = weak_from_this(), gen = generation](error_code ec) {
        auto self = w.lock();
        if (ec || !self || gen != self->generation)
            return;
        const auto now = steady::now();
        const bool late = (self->ph == phase::opening && now >= self->open_deadline) ||
                          std::any_of(self->queue.begin(), self->queue.end(),
                                      [&](const pending& p) { return now >= p.deadline; });
        if (late)
            self->fail(gen, error::redis_timeout);
        else
            self->arm_timer();
    });
}

void redis_connection::state::complete(pending& p, error_code ec, redis_reply r)
{
    auto h = std::move(*p.handler);
    p.handler.reset();
    // Never inline: the handler may send the next command from inside. The
    // slot is cleared on the handler's executor, where it was assigned and
    // where the caller emits (a slot is not thread-safe).
    asio::post(strand, [h = std::move(h), ec, r = std::move(r)]() mutable {
        auto ex = asio::get_associated_executor(h);
        asio::dispatch(ex, [h = std::move(h), ec, r = std::move(r)]() mutable {
            auto slot = asio::get_associated_cancellation_slot(h);
            if (slot.is_connected())
                slot.clear();
            std::move(h)(ec, std::move(r));
        });
    });
}

void redis_connection::state::destroy_handlers()
{
    ++generation;
    ph = phase::closed;
    is_open = false;
    out.clear();
    writing = false;
    // Moved out first: destroying a handler may reach this state again.
    auto dropped = std::move(queue);
    queue.clear();
    dropped.clear();
}

redis_connection::redis_connection(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls,
                                   redis_endpoint ep, redis_limits limits)
    : st_(std::make_shared<state>(ex, std::move(tls), std::move(ep), limits))
{
    // After the state (and its timer) exist: services shut down newest
    // first, so this one runs before the timers' and sockets' reactor does.
    asio::use_service<registry>(asio::query(ex, asio::execution::context)).add(st_);
}

redis_connection::~redis_connection() { close(); }

void redis_connection::set_subscriber(std::vector<redis_command> on_open, std::function<void(redis_reply)> push)
{
    st_->on_open = std::move(on_open);
    st_->push = std::move(push);
}

/// Runs on the caller's thread (the initiation), where its cancellation
/// slot may be touched; everything else happens on the connection's strand.
void redis_connection::exec(redis_command cmd, handler_type handler)
{
    const auto id = st_->next_id.fetch_add(1, std::memory_order_relaxed);
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
        slot.assign([w = std::weak_ptr<state>(st_), id](asio::cancellation_type) {
            if (auto st = w.lock())
                asio::post(st->strand, [st, id] { st->cancel(id); });
        });
    }
    asio::dispatch(st_->strand, [st = st_, id, cmd = std::move(cmd), h = std::move(handler)]() mutable {
        st->submit(id, std::move(cmd), std::move(h));
    });
}

void redis_connection::close_when_idle()
{
    asio::dispatch(st_->strand, [st = st_] {
        st->closing = true;
        if (st->queue.empty())
            st->fail(st->generation, asio::error::operation_aborted);
    });
}

void redis_connection::close()
{
    asio::dispatch(st_->strand, [st = st_] { st->fail(st->generation, asio::error::operation_aborted); });
}

bool redis_connection::is_open() const noexcept { return st_->is_open.load(); }

} // namespace tetrapak::detail
