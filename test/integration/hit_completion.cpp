// The cache-hit path against the real server: a cached key completes through
// the handler's associated executor (never inside the initiating call), a
// cancellation that arrives before the handler runs wins for every type and
// leaves the token cached, the slot is cleared at completion, a queued hit
// survives its io_context's destruction, and the configuration digest that
// keys the cache follows the configuration's content (changed in place, or a
// new object at a freed address).
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace tetrapak;
namespace asio = boost::asio;
using boost::system::error_code;
using test::default_server;

namespace {

using erased_handler = asio::any_completion_handler<void(error_code, actor_token)>;

/// One call run to completion on `ctx` (which must then be out of work); the token.
actor_token warm(asio::io_context& ctx, authorization_service& auth, const http_client_options& o = {})
{
    error_code ec = asio::error::would_block;
    actor_token token;
    diagnostics diag;
    int calls = 0;
    auth.async_authorize(o, diag, [&](error_code e, actor_token t) {
        ec = e;
        token = std::move(t);
        ++calls;
    });
    ctx.restart();
    ctx.run_for(std::chrono::seconds(20));
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(calls == 1);
    BOOST_TEST_REQUIRE(!ec, ec.message() << ' ' << diag);
    BOOST_TEST_REQUIRE(!token.empty());
    return token;
}

std::vector<std::string> scopes_of(const actor_token& t) { return {t.scope().begin(), t.scope().end()}; }

const asio::cancellation_type every_type[] = {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                                              asio::cancellation_type::total};

/// What a handler saw.
struct seen {
    error_code ec = asio::error::would_block;
    actor_token token;
    int calls = 0;
};

/// A service on `ctx` with one cached client-credentials token; the server's
/// counters reset and `ctx` ready to run again.
struct warmed {
    test::oidc_server& server = default_server();
    asio::io_context ctx;
    authorization_service auth{ctx.get_executor(), test::basic_client(server)};
    const actor_token cached = warm(ctx, auth);
    warmed()
    {
        server.reset_stats();
        ctx.restart();
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(hit_completion)

BOOST_FIXTURE_TEST_CASE(never_inside_the_initiating_call, warmed)
{
    // From outside the io_context, with and without diagnostics, and type-erased
    // by the caller (an any_completion_executor, which cannot promise never_t).
    seen a, b, c;
    diagnostics diag;
    auth.async_authorize({}, [&](error_code ec, actor_token t) { a = {ec, std::move(t), a.calls + 1}; });
    auth.async_authorize({}, diag, [&](error_code ec, actor_token t) { b = {ec, std::move(t), b.calls + 1}; });
    auth.async_authorize({}, erased_handler([&](error_code ec, actor_token t) { c = {ec, std::move(t), c.calls + 1}; }));
    BOOST_TEST(a.calls == 0);
    BOOST_TEST(b.calls == 0);
    BOOST_TEST(c.calls == 0);

    // From inside a handler running on the io_context (where a dispatch would run inline).
    seen d;
    bool inside_done = false;
    asio::post(ctx, [&] {
        auth.async_authorize({}, [&](error_code ec, actor_token t) { d = {ec, std::move(t), d.calls + 1}; });
        BOOST_TEST(d.calls == 0);
        inside_done = true;
    });

    ctx.restart();
    ctx.run();
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(inside_done);
    for (auto* s : {&a, &b, &c, &d}) {
        BOOST_TEST(s->calls == 1);
        BOOST_TEST(!s->ec, s->ec.message());
        BOOST_TEST((s->token == cached));
    }
    BOOST_TEST(diag.empty());
    BOOST_TEST(server.stat("token_requests") == 0);
    BOOST_TEST(auth.stats()[metric::cache_hit] == 4u);
}

BOOST_FIXTURE_TEST_CASE(strand_bound_handler_runs_in_its_strand, warmed)
{
    auto strand = asio::make_strand(ctx);
    constexpr int n = 50;
    int in_strand = 0, calls = 0, good = 0; // touched only in the strand
    std::atomic<int> inline_runs{0};
    auto handler = [&](error_code ec, actor_token t) {
        ++calls;
        if (strand.running_in_this_thread())
            ++in_strand;
        if (!ec && t == cached)
            ++good;
    };
    for (int i = 0; i < n; ++i) {
        if (i % 3 == 0) { // initiated from inside the strand itself
            asio::post(strand, [&] {
                const int before = calls;
                auth.async_authorize({}, asio::bind_executor(strand, handler));
                if (calls != before)
                    ++inline_runs;
            });
        } else if (i % 3 == 1) {
            auth.async_authorize({}, asio::bind_executor(strand, handler));
        } else { // the strand behind an any_completion_executor
            auth.async_authorize({}, erased_handler(asio::bind_executor(strand, handler)));
        }
    }
    std::thread t1([&] { ctx.run(); }), t2([&] { ctx.run(); });
    t1.join();
    t2.join();
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(calls == n);
    BOOST_TEST(in_strand == n);
    BOOST_TEST(good == n);
    BOOST_TEST(inline_runs.load() == 0);
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(handler_bound_to_another_io_context_runs_on_its_thread)
{
    // The service on `io`, the handler bound to `app`: it runs on app's thread,
    // and app.run() does not return before it ran (app has work until then).
    auto& server = default_server();
    asio::io_context io, app;
    authorization_service auth(io.get_executor(), test::basic_client(server));
    const auto cached = warm(io, auth);
    server.reset_stats();
    io.restart();

    for (bool erased : {false, true}) {
        app.restart();
        std::atomic<int> calls{0};
        std::thread::id ran_on;
        seen s;
        auto h = [&](error_code ec, actor_token t) {
            ran_on = std::this_thread::get_id();
            s = {ec, std::move(t), s.calls + 1};
            ++calls;
        };
        if (erased)
            auth.async_authorize({}, erased_handler(asio::bind_executor(app.get_executor(), h)));
        else
            auth.async_authorize({}, asio::bind_executor(app.get_executor(), h));
        BOOST_TEST(calls.load() == 0);

        std::thread::id app_thread;
        int calls_when_app_ran_out = -1;
        std::thread ta([&] {
            app_thread = std::this_thread::get_id();
            app.run();
            calls_when_app_ran_out = calls.load();
        });
        std::thread tb([&] {
            io.restart();
            io.run();
        });
        ta.join();
        tb.join();
        BOOST_TEST(calls_when_app_ran_out == 1, "erased=" << erased);
        BOOST_TEST(calls.load() == 1);
        BOOST_TEST((ran_on == app_thread), "erased=" << erased);
        BOOST_TEST(!s.ec, s.ec.message());
        BOOST_TEST((s.token == cached));
    }
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(io_contexts_sharing_a_service_complete_hits_on_their_own)
{
    // One io_context per thread, one service: a hit needs only the caller's
    // io_context running, not the service's (a miss needs both, like any I/O object).
    auto& server = default_server();
    asio::io_context io, app;
    authorization_service auth(io.get_executor(), test::basic_client(server));
    const auto cached = warm(io, auth);
    server.reset_stats();
    seen s;
    asio::co_spawn(app, [&]() -> asio::awaitable<void> {
        auto [ec, t] = co_await auth.async_authorize({}, asio::as_tuple(asio::use_awaitable));
        s = {ec, std::move(t), s.calls + 1};
    }, asio::detached);
    app.run_for(std::chrono::seconds(5)); // `io` is not run
    BOOST_TEST(app.stopped());
    BOOST_TEST(s.calls == 1);
    BOOST_TEST(!s.ec, s.ec.message());
    BOOST_TEST((s.token == cached));
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_FIXTURE_TEST_CASE(use_future_with_the_io_context_on_another_thread, warmed)
{
    auto guard = asio::make_work_guard(ctx);
    std::thread t([&] { ctx.run(); });
    auto f1 = auth.async_authorize({}, asio::use_future);
    diagnostics diag;
    auto f2 = auth.async_authorize({}, diag, asio::use_future);
    BOOST_TEST((f1.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST((f2.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST((f1.get() == cached));
    BOOST_TEST((f2.get() == cached));
    BOOST_TEST(diag.empty());
    // Like every Asio operation, the hit completes on the io_context's thread,
    // not on Asio's hidden system thread pool: while that thread is held, the
    // future stays unready.
    std::promise<void> release;
    auto released = release.get_future().share();
    asio::post(ctx, [released] { released.wait(); });
    auto f3 = auth.async_authorize({}, asio::use_future);
    BOOST_TEST((f3.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout));
    release.set_value();
    BOOST_TEST((f3.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST((f3.get() == cached));
    guard.reset();
    t.join();
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_FIXTURE_TEST_CASE(awaitable_styles_on_a_hit, warmed)
{
    int done = 0;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto t1 = co_await auth.async_authorize({}, asio::use_awaitable);
            BOOST_TEST((t1 == cached));
            auto [ec2, t2] = co_await auth.async_authorize({}, asio::as_tuple(asio::use_awaitable));
            BOOST_TEST(!ec2);
            BOOST_TEST((t2 == cached));
            error_code ec3 = asio::error::would_block;
            auto t3 = co_await auth.async_authorize({}, asio::redirect_error(asio::use_awaitable, ec3));
            BOOST_TEST(!ec3);
            BOOST_TEST((t3 == cached));
            auto op = auth.async_authorize({}, asio::deferred);
            auto t4 = co_await std::move(op)(asio::use_awaitable);
            BOOST_TEST((t4 == cached));
            ++done;
        },
        [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    ctx.run();
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(done == 1);
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_FIXTURE_TEST_CASE(cancellation_before_the_handler_runs_wins_and_the_token_stays_cached, warmed)
{
    auto strand = asio::make_strand(ctx);

    // plain callback, strand-bound, type-erased (the any_completion_executor route)
    for (int style = 0; style < 3; ++style) {
        for (auto type : every_type) {
            const auto hits_before = auth.stats()[metric::cache_hit];
            asio::cancellation_signal sig;
            seen s;
            diagnostics diag;
            auto h = [&](error_code ec, actor_token t) { s = {ec, std::move(t), s.calls + 1}; };
            auto bound = asio::bind_cancellation_slot(sig.slot(), h);
            if (style == 0)
                auth.async_authorize({}, diag, bound);
            else if (style == 1)
                auth.async_authorize({}, diag, asio::bind_executor(strand, bound));
            else
                auth.async_authorize({}, diag, erased_handler(bound));
            BOOST_TEST(s.calls == 0);
            BOOST_TEST(sig.slot().has_handler()); // the operation listens
            sig.emit(type); // after initiation, before the handler ran
            ctx.restart();
            ctx.run();
            BOOST_TEST(ctx.stopped());
            BOOST_TEST(s.calls == 1, "style " << style << " type " << int(type));
            BOOST_TEST((s.ec == asio::error::operation_aborted), "style " << style << " type " << int(type) << ": "
                                                                           << s.ec.message());
            BOOST_TEST(s.token.empty());
            // Cleared at completion. (A type-erased handler puts Asio's own
            // cancellation_state in the caller's slot, and leaves it there.)
            if (style != 2)
                BOOST_TEST(!sig.slot().has_handler(), "style " << style << " type " << int(type));
            BOOST_TEST(auth.stats()[metric::cache_hit] == hits_before + 1);

            // Still cached: the next call is a hit with the same token.
            seen next;
            auth.async_authorize({}, [&](error_code ec, actor_token t) { next = {ec, std::move(t), next.calls + 1}; });
            ctx.restart();
            ctx.run();
            BOOST_TEST(next.calls == 1);
            BOOST_TEST(!next.ec);
            BOOST_TEST((next.token == cached));
        }
    }

    // Emitted on the io_context, from the handler that initiated the call.
    for (auto type : every_type) {
        asio::cancellation_signal sig;
        seen s;
        asio::post(ctx, [&] {
            auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
                                     s = {ec, std::move(t), s.calls + 1};
                                 }));
            sig.emit(type);
        });
        ctx.restart();
        ctx.run();
        BOOST_TEST(s.calls == 1);
        BOOST_TEST((s.ec == asio::error::operation_aborted));
        BOOST_TEST(s.token.empty());
    }

    // A signal without a type is not a cancellation.
    {
        asio::cancellation_signal sig;
        seen s;
        auth.async_authorize({}, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
                                 s = {ec, std::move(t), s.calls + 1};
                             }));
        sig.emit(asio::cancellation_type::none);
        ctx.restart();
        ctx.run();
        BOOST_TEST(s.calls == 1);
        BOOST_TEST(!s.ec);
        BOOST_TEST((s.token == cached));
    }
    BOOST_TEST(server.stat("token_requests") == 0);
    BOOST_TEST(auth.cache_size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(emit_after_completion_does_nothing, warmed)
{
    asio::cancellation_signal sig;
    seen s;
    auto h = asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, actor_token t) {
        // Asio's rule: the slot is cleared before the handler runs.
        BOOST_TEST(!sig.slot().has_handler());
        s = {ec, std::move(t), s.calls + 1};
    });
    auth.async_authorize({}, h);
    ctx.restart();
    ctx.run();
    BOOST_TEST(s.calls == 1);
    BOOST_TEST(!s.ec);
    BOOST_TEST((s.token == cached));
    BOOST_TEST(!sig.slot().has_handler());
    for (auto type : every_type)
        sig.emit(type); // nothing listens any more
    ctx.restart();
    ctx.run();
    BOOST_TEST(s.calls == 1);

    // The same signal serves the next call; its cancellation still wins there.
    auth.async_authorize({}, h);
    sig.emit(asio::cancellation_type::terminal);
    ctx.restart();
    ctx.run();
    BOOST_TEST(s.calls == 2);
    BOOST_TEST((s.ec == asio::error::operation_aborted));
    BOOST_TEST(!sig.slot().has_handler());
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(destroying_the_io_context_with_a_queued_hit)
{
    auto& server = default_server();
    const auto cfg = test::basic_client(server);

    // The service's own io_context, with a slot and diagnostics; plain and type-erased.
    for (bool erased : {false, true}) {
        asio::cancellation_signal sig;
        diagnostics diag;
        bool ran = false;
        auto life = std::make_shared<int>(0);
        std::weak_ptr<int> watch = life;
        {
            asio::io_context ctx;
            authorization_service auth(ctx.get_executor(), cfg);
            warm(ctx, auth);
            auto h = asio::bind_cancellation_slot(sig.slot(), [&ran, life = std::move(life)](error_code, actor_token) {
                ran = true;
            });
            if (erased)
                auth.async_authorize({}, diag, erased_handler(std::move(h)));
            else
                auth.async_authorize({}, diag, std::move(h));
        } // the service, then the io_context with the queued completion
        BOOST_TEST(!ran);
        BOOST_TEST(watch.expired()); // the handler was destroyed, not leaked
        for (auto type : every_type)
            sig.emit(type); // whatever is left in the slot must be harmless
    }

    // The handler's own io_context destroyed; the service's goes on working.
    {
        asio::io_context io;
        authorization_service auth(io.get_executor(), cfg);
        const auto cached = warm(io, auth);
        bool ran = false;
        auto life = std::make_shared<int>(0);
        std::weak_ptr<int> watch = life;
        {
            asio::io_context app;
            auth.async_authorize({}, asio::bind_executor(app.get_executor(),
                                                         [&ran, life = std::move(life)](error_code, actor_token) {
                                                             ran = true;
                                                         }));
            io.restart();
            io.run(); // whatever the service queued for it, with app not running
        }
        BOOST_TEST(!ran);
        BOOST_TEST(watch.expired());
        BOOST_TEST((warm(io, auth) == cached));
    }
}

BOOST_AUTO_TEST_CASE(configuration_changed_in_place_gets_a_new_key)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    auto cfg = std::make_shared<auth_config>(test::basic_client(server));
    cfg->scope = {"read"};
    http_client_options o;
    o.auth_config = cfg;
    server.reset_stats();

    const auto read1 = warm(ctx, auth, o);
    BOOST_TEST((scopes_of(read1) == std::vector<std::string>{"read"}));
    BOOST_TEST((warm(ctx, auth, o) == read1)); // a hit
    BOOST_TEST(server.stat("token_requests") == 1);

    cfg->scope = {"write"}; // the same object, changed in place
    const auto write1 = warm(ctx, auth, o);
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST((scopes_of(write1) == std::vector<std::string>{"write"}));
    BOOST_TEST((warm(ctx, auth, o) == write1));

    cfg->scope = {"read"}; // back: the first entry again
    BOOST_TEST((warm(ctx, auth, o) == read1));
    cfg->scope = {"write", "read"};
    const auto both = warm(ctx, auth, o);
    BOOST_TEST(!(both == write1));
    BOOST_TEST(!(both == read1));
    BOOST_TEST(server.stat("token_requests") == 3);
    BOOST_TEST(auth.cache_size() == 3u);
}

BOOST_AUTO_TEST_CASE(new_configuration_at_a_freed_address_is_digested_anew)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    auto read_cfg = test::basic_client(server);
    read_cfg.scope = {"read"};
    auto write_cfg = test::basic_client(server);
    write_cfg.scope = {"write"};
    server.reset_stats();

    // Storage we control, so that the new object lands at the freed one's
    // address even under AddressSanitizer (whose allocator quarantines frees).
    struct storage_t {
        alignas(auth_config) unsigned char bytes[sizeof(auth_config)];
    };
    auto storage = std::make_unique<storage_t>();
    auto place = [&](const auth_config& c) {
        auto* p = ::new (static_cast<void*>(storage->bytes)) auth_config(c);
        return std::shared_ptr<const auth_config>(p, [](auth_config* q) { q->~auth_config(); });
    };
    const void* address = nullptr;
    auto call_with = [&](std::shared_ptr<const auth_config> c) {
        http_client_options o;
        o.auth_config = std::move(c);
        return warm(ctx, auth, o);
    };

    const auto read1 = call_with(place(read_cfg)); // freed at once
    address = storage->bytes;
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST((scopes_of(read1) == std::vector<std::string>{"read"}));

    auto w = place(write_cfg); // same address, new control block, other content
    BOOST_TEST_REQUIRE(static_cast<const void*>(w.get()) == address);
    const auto write1 = call_with(w);
    BOOST_TEST(server.stat("token_requests") == 2); // not the read entry
    BOOST_TEST((scopes_of(write1) == std::vector<std::string>{"write"}));
    w.reset();
    BOOST_TEST((call_with(place(read_cfg)) == read1));
    BOOST_TEST((call_with(place(write_cfg)) == write1));
    BOOST_TEST(server.stat("token_requests") == 2);

    // The same address and the same control block (an aliasing shared_ptr),
    // the object replaced: the content still decides.
    struct holder {
        std::optional<auth_config> c;
    };
    auto h = std::make_shared<holder>();
    h->c.emplace(read_cfg);
    std::shared_ptr<const auth_config> aliased(h, &*h->c);
    BOOST_TEST((call_with(aliased) == read1));
    h->c.reset();
    h->c.emplace(write_cfg);
    BOOST_TEST((call_with(aliased) == write1));
    h->c.reset();
    h->c.emplace(read_cfg);
    BOOST_TEST((call_with(aliased) == read1));

    // Ordinary allocations, freed and made again: whenever one lands at the
    // previous one's address, it must still get its own content's token.
    int same_address = 0;
    const void* previous = nullptr;
    for (int i = 0; i < 64; ++i) {
        const bool read = i % 2 == 0;
        std::shared_ptr<const auth_config> c(new auth_config(read ? read_cfg : write_cfg));
        if (c.get() == previous)
            ++same_address;
        previous = c.get();
        const auto t = call_with(std::move(c));
        BOOST_TEST((t == (read ? read1 : write1)), "iteration " << i);
    }
    BOOST_TEST_MESSAGE("configurations at the previous one's address: " << same_address << " of 64");
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_SUITE_END()
