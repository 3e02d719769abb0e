// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// endpoint_slots, the bound on an endpoint's open connections, without sockets:
// who gets a slot, in which order, and what withdrawing and handing over do.

#include "transport/connection.hpp"
#include "transport/connection_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <vector>

using namespace tetrapak::detail;

BOOST_TEST_DONT_PRINT_LOG_VALUE(slot_request::state)

namespace {

/// A request that records its wake-ups in a shared log, by its number.
struct recording_request final : slot_request {
    recording_request(int id, std::vector<int>& log) : id(id), log(&log) {}
    void wake() override { log->push_back(id); }
    int id;
    std::vector<int>* log;
};

std::shared_ptr<recording_request> request(int id, std::vector<int>& log)
{
    return std::make_shared<recording_request>(id, log);
}

struct transport {
    boost::asio::io_context ctx;
    boost::asio::ssl::context tls{boost::asio::ssl::context::tls_client};

    connection_ptr open(const std::shared_ptr<endpoint_slots>& slots)
    {
        return connection_ptr(new connection(ctx.get_executor(), tls, slots));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(connection_slots)

BOOST_AUTO_TEST_CASE(slots_up_to_the_bound_then_a_queue_served_in_order)
{
    endpoint_slots slots;
    std::vector<int> woken;
    BOOST_TEST(slots.acquire_or_queue(2, request(0, woken)));
    BOOST_TEST(slots.acquire_or_queue(2, request(1, woken)));
    auto a = request(2, woken), b = request(3, woken), c = request(4, woken);
    BOOST_TEST(!slots.acquire_or_queue(2, a));
    BOOST_TEST(!slots.acquire_or_queue(2, b));
    BOOST_TEST(!slots.acquire_or_queue(2, c));
    BOOST_TEST(slots.open() == 2u);
    BOOST_TEST(woken.empty());

    slots.release();
    slots.release();
    BOOST_TEST(woken == (std::vector<int>{2, 3}));
    BOOST_TEST(a->status == slot_request::state::granted);
    BOOST_TEST(b->status == slot_request::state::granted);
    BOOST_TEST(c->status == slot_request::state::waiting);
    BOOST_TEST(slots.open() == 2u); // the slots passed on, none was freed
    BOOST_TEST(slots.withdraw(a));  // a got its slot before it stopped waiting
}

BOOST_AUTO_TEST_CASE(a_withdrawn_request_is_skipped_and_a_free_slot_counted)
{
    endpoint_slots slots;
    std::vector<int> woken;
    BOOST_TEST(slots.acquire_or_queue(1, request(0, woken)));
    auto a = request(1, woken), b = request(2, woken);
    BOOST_TEST(!slots.acquire_or_queue(1, a));
    BOOST_TEST(!slots.acquire_or_queue(1, b));
    BOOST_TEST(!slots.withdraw(a)); // timed out or cancelled while queued
    BOOST_TEST(a->status == slot_request::state::withdrawn);

    slots.release();
    BOOST_TEST(woken == std::vector<int>{2});
    BOOST_TEST(slots.withdraw(b));
    slots.release(); // b's connection closed, nobody waits
    BOOST_TEST(slots.open() == 0u);
    BOOST_TEST(slots.acquire_or_queue(1, request(3, woken)));
}

BOOST_AUTO_TEST_CASE(an_idle_connection_goes_to_the_first_waiter_with_its_slot)
{
    transport t;
    auto slots = std::make_shared<endpoint_slots>();
    std::vector<int> woken;
    BOOST_TEST(slots->acquire_or_queue(1, request(0, woken)));
    auto conn = t.open(slots);
    auto a = request(1, woken);
    BOOST_TEST(!slots->acquire_or_queue(1, a));

    connection* raw = conn.get();
    BOOST_TEST(slots->hand_over(conn));
    BOOST_TEST(!conn);
    BOOST_TEST(a->status == slot_request::state::handed);
    BOOST_TEST(a->handed.get() == raw);
    BOOST_TEST(woken == std::vector<int>{1});
    BOOST_TEST(slots->open() == 1u);

    a->handed.reset(); // the connection closes: its slot is free
    BOOST_TEST(slots->open() == 0u);
}

BOOST_AUTO_TEST_CASE(no_waiter_means_no_hand_over_and_pool_put_keeps_the_connection)
{
    transport t;
    connection_pool pool;
    auto slots = pool.slots("https://h:443");
    std::vector<int> woken;
    BOOST_TEST(slots->acquire_or_queue(4, request(0, woken)));
    auto conn = t.open(slots);
    BOOST_TEST(!slots->hand_over(conn));
    BOOST_TEST(conn != nullptr);
    BOOST_TEST(pool.slots("https://h:443") == slots); // one bound per endpoint key
    BOOST_TEST(pool.slots("https://other:443") != slots);

    // A waiter arrives while the connection is in use: put() hands it over
    // instead of keeping it idle.
    BOOST_TEST(slots->acquire_or_queue(1, request(9, woken)) == false);
    pool.put("https://h:443", std::move(conn), 4);
    BOOST_TEST(woken == std::vector<int>{9});
    BOOST_TEST(pool.take("https://h:443", std::chrono::seconds(30)) == nullptr);
}

BOOST_AUTO_TEST_CASE(a_connection_freed_without_a_waiter_frees_its_slot)
{
    transport t;
    auto slots = std::make_shared<endpoint_slots>();
    std::vector<int> woken;
    BOOST_TEST(slots->acquire_or_queue(3, request(0, woken)));
    BOOST_TEST(slots->acquire_or_queue(3, request(1, woken)));
    auto c1 = t.open(slots), c2 = t.open(slots);
    BOOST_TEST(slots->open() == 2u);
    c1.reset();
    BOOST_TEST(slots->open() == 1u);
    c2.reset();
    BOOST_TEST(slots->open() == 0u);
    BOOST_TEST(woken.empty());
}

BOOST_AUTO_TEST_SUITE_END()
