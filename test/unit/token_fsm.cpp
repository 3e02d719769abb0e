// The token job's sequencing without I/O: each table feeds token_fsm the
// events a driver would see and checks every action it answers with.
#include "service/token_fsm.hpp"

#include <tetrapak.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
using boost::system::error_code;
using tetrapak::detail::diagnostics_access;
using tetrapak::detail::token_action;
using tetrapak::detail::token_event;
using tetrapak::detail::token_fsm;

namespace {

using ev = token_event::kind;
using act = token_action::kind;

/// One row: what happened, and what the machine must answer.
struct row {
    token_event event;
    act expected;
    error_code ec{};                                  ///< fail / wait: the error carried
    std::optional<std::chrono::milliseconds> delay{}; ///< wait: the exact backoff
    bool use_refresh_token = false;                   ///< send
    bool drop_refresh_token = false;                  ///< send
    std::optional<std::chrono::seconds> retry_after{}; ///< fail
    std::optional<bool> raw_basic{};                   ///< send / succeed: the Basic form, when checked
    std::optional<bool> remember_basic{};              ///< succeed, when checked
};

struct table {
    bool needs_discovery = false;
    bool has_refresh_token = false;
    retry_settings retry{};
    std::vector<row> rows;
    int attempts = 0; ///< after the last row
};

/// `e` carrying the Basic forms (for start and discovered).
token_event with_basic(token_event e, bool alternative, bool raw_first = false)
{
    e.basic = {alternative, raw_first};
    return e;
}

const char* name_of(act a)
{
    switch (a) {
    case act::discover: return "discover";
    case act::send: return "send";
    case act::wait: return "wait";
    case act::succeed: return "succeed";
    case act::fail: return "fail";
    }
    return "?";
}

token_event cancelled(token_event e)
{
    e.cancelled = true;
    return e;
}

token_event answered(error_code ec, const diagnostics* d = nullptr, double random01 = 0.5)
{
    return token_event{ev::answered, ec, d, random01};
}

void run(const table& t)
{
    token_fsm fsm(t.retry, t.needs_discovery, t.has_refresh_token);
    int n = 0;
    for (const auto& r : t.rows) {
        BOOST_TEST_CONTEXT("row " << n++)
        {
            BOOST_TEST_REQUIRE(!fsm.done());
            const auto a = fsm.resume(r.event);
            BOOST_TEST(name_of(a.what) == name_of(r.expected));
            if (r.expected == act::fail || r.expected == act::wait)
                BOOST_TEST(a.ec == r.ec, a.ec.message() << " != " << r.ec.message());
            if (r.delay)
                BOOST_TEST(a.delay.count() == r.delay->count());
            if (r.expected == act::send) {
                BOOST_TEST(a.use_refresh_token == r.use_refresh_token);
                BOOST_TEST(a.drop_refresh_token == r.drop_refresh_token);
            }
            if (r.raw_basic)
                BOOST_TEST(a.raw_basic == *r.raw_basic);
            if (r.remember_basic)
                BOOST_TEST(a.remember_basic == *r.remember_basic);
            if (r.expected == act::fail) {
                BOOST_TEST(a.retry_after.has_value() == r.retry_after.has_value());
                if (a.retry_after && r.retry_after)
                    BOOST_TEST(a.retry_after->count() == r.retry_after->count());
                BOOST_TEST(fsm.done());
            }
        }
    }
    BOOST_TEST(fsm.attempts() == t.attempts);
}

const error_code refused = boost::asio::error::connection_refused;
const error_code aborted = boost::asio::error::operation_aborted;
const error_code unexpected = make_error_code(boost::system::errc::state_not_recoverable);

diagnostics with_retry_after(std::chrono::seconds s, unsigned status)
{
    diagnostics d;
    diagnostics_access::retry_after(d) = s;
    diagnostics_access::http_status(d) = status;
    return d;
}

} // namespace

BOOST_AUTO_TEST_SUITE(token_fsm_tables)

BOOST_AUTO_TEST_CASE(success_at_once)
{
    run({false, false, {}, {{token_event{ev::start}, act::send}, {answered({}), act::succeed}}, 1});
}

BOOST_AUTO_TEST_CASE(discovery_then_success)
{
    run({true, false, {},
         {{token_event{ev::start}, act::discover}, {token_event{ev::discovered}, act::send}, {answered({}), act::succeed}},
         1});
}

BOOST_AUTO_TEST_CASE(discovery_failure_ends_the_job_without_a_request)
{
    diagnostics d = with_retry_after(7s, 503);
    run({true, false, {},
         {{token_event{ev::start}, act::discover},
          {token_event{ev::discovered, error::discovery_failed, &d}, act::fail, error::discovery_failed, {}, false, false, 7s}},
         0});
}

BOOST_AUTO_TEST_CASE(transport_failure_retried_with_backoff_then_success)
{
    retry_settings rs;
    rs.base_delay = 400ms;
    // Full jitter: the first backoff is base * random01, the second 2 * base * random01.
    run({false, false, rs,
         {{token_event{ev::start}, act::send},
          {answered(refused, nullptr, 0.5), act::wait, refused, 200ms},
          {token_event{ev::waited}, act::send},
          {answered(refused, nullptr, 0.25), act::wait, refused, 200ms},
          {token_event{ev::waited}, act::send},
          {answered({}), act::succeed}},
         3});
}

BOOST_AUTO_TEST_CASE(attempts_used_up)
{
    retry_settings rs;
    rs.max_attempts = 2;
    run({false, false, rs,
         {{token_event{ev::start}, act::send},
          {answered(error::connect_timeout), act::wait, error::connect_timeout},
          {token_event{ev::waited}, act::send},
          {answered(error::connect_timeout), act::fail, error::connect_timeout}},
         2});
}

BOOST_AUTO_TEST_CASE(one_attempt_means_no_retry)
{
    retry_settings rs;
    rs.max_attempts = 1;
    run({false, false, rs, {{token_event{ev::start}, act::send}, {answered(refused), act::fail, refused}}, 1});
}

BOOST_AUTO_TEST_CASE(oauth_client_errors_are_never_retried)
{
    for (auto e : {oauth_errc::invalid_client, oauth_errc::invalid_grant, oauth_errc::unauthorized_client,
                   oauth_errc::invalid_scope, oauth_errc::invalid_request}) {
        BOOST_TEST_CONTEXT(make_error_code(e).message())
        run({false, false, {}, {{token_event{ev::start}, act::send}, {answered(e), act::fail, e}}, 1});
    }
}

BOOST_AUTO_TEST_CASE(request_that_cannot_be_built_fails_at_once)
{
    run({false, false, {},
         {{token_event{ev::start}, act::send}, {answered(error::invalid_header_value), act::fail, error::invalid_header_value}},
         1});
}

BOOST_AUTO_TEST_CASE(refused_refresh_token_falls_back_to_the_grant_once)
{
    run({false, true, {},
         {{token_event{ev::start}, act::send, {}, {}, true},
          {answered(oauth_errc::invalid_grant), act::send, {}, {}, false, true},
          {answered({}), act::succeed}},
         1});
    token_fsm fsm({}, false, true);
    fsm.resume(token_event{ev::start});
    fsm.resume(answered(oauth_errc::invalid_grant));
    BOOST_TEST(fsm.refresh_token_refused());
}

BOOST_AUTO_TEST_CASE(grant_refused_after_the_refresh_token_ends_the_job)
{
    run({false, true, {},
         {{token_event{ev::start}, act::send, {}, {}, true},
          {answered(oauth_errc::invalid_grant), act::send, {}, {}, false, true},
          {answered(oauth_errc::invalid_grant), act::fail, oauth_errc::invalid_grant}},
         1});
}

BOOST_AUTO_TEST_CASE(refresh_token_kept_for_retries_after_transport_failures)
{
    run({false, true, {},
         {{token_event{ev::start}, act::send, {}, {}, true},
          {answered(refused), act::wait, refused},
          {token_event{ev::waited}, act::send, {}, {}, true},
          {answered({}), act::succeed}},
         2});
}

BOOST_AUTO_TEST_CASE(retry_after_within_the_cap_sets_the_wait)
{
    diagnostics d = with_retry_after(2s, 429);
    run({false, false, {},
         {{token_event{ev::start}, act::send},
          {answered(error::too_many_requests, &d, 0.0), act::wait, error::too_many_requests, 2000ms},
          {token_event{ev::waited}, act::send},
          {answered({}), act::succeed}},
         2});
}

BOOST_AUTO_TEST_CASE(retry_after_beyond_the_cap_fails_and_is_remembered)
{
    retry_settings rs;
    rs.max_delay = 10s;
    diagnostics d = with_retry_after(60s, 503);
    run({false, false, rs,
         {{token_event{ev::start}, act::send},
          {answered(error::server_unavailable, &d), act::fail, error::server_unavailable, {}, false, false, 60s}},
         1});
}

BOOST_AUTO_TEST_CASE(cancellation_wins_at_every_point)
{
    const diagnostics d = with_retry_after(5s, 503);
    // Before anything: no request at all.
    run({false, false, {}, {{cancelled(token_event{ev::start}), act::fail, aborted}}, 0});
    // During discovery, even when the document arrived.
    run({true, false, {},
         {{token_event{ev::start}, act::discover}, {cancelled(token_event{ev::discovered}), act::fail, aborted}}, 0});
    // During the exchange, even when a token arrived: it is not stored.
    run({false, false, {}, {{token_event{ev::start}, act::send}, {cancelled(answered({})), act::fail, aborted}}, 1});
    // During a backoff wait; a cancellation never remembers a Retry-After.
    run({false, false, {},
         {{token_event{ev::start}, act::send},
          {answered(error::server_unavailable, &d, 0.0), act::wait, error::server_unavailable, 5000ms},
          {cancelled(token_event{ev::waited}), act::fail, aborted}},
         1});
    // An exchange that ended with operation_aborted on its own is not retried.
    run({false, false, {}, {{token_event{ev::start}, act::send}, {answered(aborted, &d), act::fail, aborted}}, 1});
}

BOOST_AUTO_TEST_CASE(unexpected_events_end_the_job)
{
    run({false, false, {}, {{answered({}), act::fail, unexpected}}, 0});
    run({false, false, {}, {{token_event{ev::start}, act::send}, {token_event{ev::waited}, act::fail, unexpected}}, 1});
    run({true, false, {}, {{token_event{ev::start}, act::discover}, {answered({}), act::fail, unexpected}}, 0});
    token_fsm fsm({}, false, false);
    fsm.resume(token_event{ev::start});
    fsm.resume(answered({}));
    BOOST_TEST(fsm.done());
    BOOST_TEST(fsm.resume(token_event{ev::waited}).ec == unexpected); // nothing follows the end
}

// --- client_secret_basic: the other credentials form once (issue 13) -----

namespace {
diagnostics refusal(unsigned status, std::string_view oauth_error = {})
{
    diagnostics d;
    diagnostics_access::http_status(d) = status;
    diagnostics_access::error(d) = std::string(oauth_error);
    return d;
}
const error_code client_refused = error::client_refused;
const error_code invalid_client = oauth_errc::invalid_client;
} // namespace

BOOST_AUTO_TEST_CASE(refused_rfc_form_then_raw_succeeds_and_is_remembered)
{
    const diagnostics d403 = refusal(403);
    const diagnostics d401 = refusal(401, "invalid_client");
    retry_settings one;
    one.max_attempts = 1; // the other form is no retry: it happens with retries off
    for (auto [ec, d] : {std::pair{client_refused, &d403}, std::pair{invalid_client, &d401}}) {
        BOOST_TEST_CONTEXT(ec.message())
        run({false, false, one,
             {{with_basic(token_event{ev::start}, true), act::send, {}, {}, false, false, {}, false},
              {answered(ec, d), act::send, {}, {}, false, false, {}, true},
              {answered({}), act::succeed, {}, {}, false, false, {}, true, true}},
             1});
    }
}

BOOST_AUTO_TEST_CASE(rfc_form_success_is_remembered_too)
{
    // The driver records the RFC 6749 form (forgetting a remembered raw one).
    run({false, false, {},
         {{with_basic(token_event{ev::start}, true), act::send, {}, {}, false, false, {}, false},
          {answered({}), act::succeed, {}, {}, false, false, {}, false, true}},
         1});
}

BOOST_AUTO_TEST_CASE(both_forms_refused_fail_with_the_first_refusal)
{
    // First the RFC form: 403 without a body; then the raw form: 401 invalid_client.
    // The user sees the first (client_refused, 403) and a note about the second.
    const diagnostics first = refusal(403);
    const diagnostics second = refusal(401, "invalid_client");
    token_fsm fsm({}, false, false);
    BOOST_TEST(!fsm.resume(with_basic(token_event{ev::start}, true)).raw_basic);
    auto a = fsm.resume(answered(client_refused, &first));
    BOOST_TEST((a.what == act::send));
    BOOST_TEST(a.raw_basic);
    a = fsm.resume(answered(invalid_client, &second));
    BOOST_TEST((a.what == act::fail));
    BOOST_TEST(a.ec == client_refused);
    BOOST_TEST_REQUIRE(a.diag != nullptr);
    BOOST_TEST(a.diag->http_status() == 403u);
    BOOST_TEST(a.diag->error().empty());
    BOOST_TEST(a.diag->client_message().find("RFC 6749 credentials form was refused, then the raw form too") !=
                   std::string_view::npos,
               a.diag->client_message());
    BOOST_TEST(fsm.done());
    BOOST_TEST(fsm.attempts() == 1);
    // The other way round (the raw form remembered): the same, with the forms named in order.
    token_fsm fsm2({}, false, false);
    BOOST_TEST(fsm2.resume(with_basic(token_event{ev::start}, true, true)).raw_basic);
    BOOST_TEST(!fsm2.resume(answered(invalid_client, &second)).raw_basic);
    a = fsm2.resume(answered(client_refused, &first));
    BOOST_TEST(a.ec == invalid_client);
    BOOST_TEST_REQUIRE(a.diag != nullptr);
    BOOST_TEST(a.diag->error() == "invalid_client");
    BOOST_TEST(a.diag->client_message().find("raw credentials form was refused, then the RFC 6749 form too") !=
               std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(no_other_form_when_there_is_none)
{
    // Forms equal, client_secret_post or a JWT method, a forced encoding: the driver says no alternative.
    const diagnostics d = refusal(403);
    run({false, false, {},
         {{with_basic(token_event{ev::start}, false), act::send, {}, {}, false, false, {}, false},
          {answered(client_refused, &d), act::fail, client_refused}},
         1});
    run({false, false, {},
         {{with_basic(token_event{ev::start}, false, true), act::send, {}, {}, false, false, {}, false},
          {answered({}), act::succeed, {}, {}, false, false, {}, false, false}},
         1});
}

BOOST_AUTO_TEST_CASE(other_failures_never_switch_the_form)
{
    retry_settings one;
    one.max_attempts = 1;
    const diagnostics d500 = refusal(500);
    for (error_code ec : {make_error_code(oauth_errc::invalid_grant), make_error_code(oauth_errc::invalid_request),
                          make_error_code(oauth_errc::unauthorized_client), make_error_code(error::unexpected_http_status),
                          make_error_code(error::server_unavailable), make_error_code(oauth_errc::other), refused,
                          make_error_code(error::connect_timeout)}) {
        BOOST_TEST_CONTEXT(ec.message())
        run({false, false, one,
             {{with_basic(token_event{ev::start}, true), act::send, {}, {}, false, false, {}, false},
              {answered(ec, &d500), act::fail, ec}},
             1});
    }
    // A 5xx retried keeps the form.
    run({false, false, {},
         {{with_basic(token_event{ev::start}, true), act::send, {}, {}, false, false, {}, false},
          {answered(error::server_unavailable, &d500, 0.0), act::wait, error::server_unavailable},
          {token_event{ev::waited}, act::send, {}, {}, false, false, {}, false},
          {answered({}), act::succeed, {}, {}, false, false, {}, false, true}},
         2});
}

BOOST_AUTO_TEST_CASE(remembered_raw_form_is_sent_first)
{
    run({false, false, {},
         {{with_basic(token_event{ev::start}, true, true), act::send, {}, {}, false, false, {}, true},
          {answered({}), act::succeed, {}, {}, false, false, {}, true, true}},
         1});
    // Refused (the server changed): the RFC form once, and that is remembered.
    const diagnostics d = refusal(401, "invalid_client");
    run({false, false, {},
         {{with_basic(token_event{ev::start}, true, true), act::send, {}, {}, false, false, {}, true},
          {answered(invalid_client, &d), act::send, {}, {}, false, false, {}, false},
          {answered({}), act::succeed, {}, {}, false, false, {}, false, true}},
         1});
}

BOOST_AUTO_TEST_CASE(forms_come_with_discovery)
{
    // With discovery, the forms of `start` are not read (the endpoint is not known yet).
    const diagnostics d = refusal(403);
    run({true, false, {},
         {{with_basic(token_event{ev::start}, true, true), act::discover},
          {with_basic(token_event{ev::discovered}, true, false), act::send, {}, {}, false, false, {}, false},
          {answered(client_refused, &d), act::send, {}, {}, false, false, {}, true},
          {answered({}), act::succeed, {}, {}, false, false, {}, true, true}},
         1});
}

BOOST_AUTO_TEST_CASE(other_form_only_once_per_fetch)
{
    // A transient failure before the refusal, then after the switch: retried
    // with the switched form; the next refusal ends the job with the first.
    const diagnostics d = refusal(403);
    const diagnostics d503 = refusal(503);
    run({false, false, {},
         {{with_basic(token_event{ev::start}, true), act::send, {}, {}, false, false, {}, false},
          {answered(refused, nullptr, 0.0), act::wait, refused},
          {token_event{ev::waited}, act::send, {}, {}, false, false, {}, false},
          {answered(client_refused, &d), act::send, {}, {}, false, false, {}, true},
          {answered(error::server_unavailable, &d503, 0.0), act::wait, error::server_unavailable},
          {token_event{ev::waited}, act::send, {}, {}, false, false, {}, true},
          {answered(client_refused, &d), act::fail, client_refused}},
         3});
}

BOOST_AUTO_TEST_CASE(other_form_with_a_refresh_token)
{
    // The renewal keeps its refresh token when the other form is tried.
    const diagnostics d = refusal(401, "invalid_client");
    run({false, true, {},
         {{with_basic(token_event{ev::start}, true), act::send, {}, {}, true, false, {}, false},
          {answered(invalid_client, &d), act::send, {}, {}, true, false, {}, true},
          {answered({}), act::succeed, {}, {}, false, false, {}, true, true}},
         1});
}

BOOST_AUTO_TEST_CASE(cancelled_during_the_other_form)
{
    const diagnostics d = refusal(403);
    token_fsm fsm({}, false, false);
    fsm.resume(with_basic(token_event{ev::start}, true));
    fsm.resume(answered(client_refused, &d));
    const auto a = fsm.resume(cancelled(answered({})));
    BOOST_TEST(a.ec == aborted);
    BOOST_TEST(a.diag == nullptr); // the first refusal is not reported for a cancellation
    BOOST_TEST(!a.retry_after);
}

token_event nonce_answer(error_code ec, bool nonce = true)
{
    auto e = answered(ec);
    e.dpop_nonce = nonce;
    return e;
}

BOOST_AUTO_TEST_CASE(use_dpop_nonce_with_a_nonce_is_sent_once_more_uncounted)
{
    const error_code nonce = oauth_errc::use_dpop_nonce;
    run({false, false, {},
         {{token_event{ev::start}, act::send}, {nonce_answer(nonce), act::send}, {answered({}), act::succeed}}, 1});
}

BOOST_AUTO_TEST_CASE(use_dpop_nonce_twice_fails_with_it)
{
    const error_code nonce = oauth_errc::use_dpop_nonce;
    run({false, false, {},
         {{token_event{ev::start}, act::send}, {nonce_answer(nonce), act::send}, {nonce_answer(nonce), act::fail, nonce}},
         1});
}

BOOST_AUTO_TEST_CASE(use_dpop_nonce_without_a_nonce_fails_at_once)
{
    const error_code nonce = oauth_errc::use_dpop_nonce;
    run({false, false, {}, {{token_event{ev::start}, act::send}, {nonce_answer(nonce, false), act::fail, nonce}}, 1});
}

BOOST_AUTO_TEST_CASE(nonce_retry_once_per_fetch_even_across_backoff)
{
    const error_code nonce = oauth_errc::use_dpop_nonce;
    run({false, false, {},
         {{token_event{ev::start}, act::send},
          {nonce_answer(nonce), act::send},
          {answered(refused), act::wait, refused},
          {token_event{ev::waited}, act::send},
          {nonce_answer(nonce), act::fail, nonce}},
         2});
}

BOOST_AUTO_TEST_CASE(invalid_dpop_proof_is_never_retried)
{
    const error_code bad = oauth_errc::invalid_dpop_proof;
    run({false, false, {}, {{token_event{ev::start}, act::send}, {nonce_answer(bad), act::fail, bad}}, 1});
}

BOOST_AUTO_TEST_CASE(nonce_retry_then_refresh_fallback)
{
    const error_code nonce = oauth_errc::use_dpop_nonce;
    run({false, true, {},
         {{token_event{ev::start}, act::send, {}, {}, true},
          {nonce_answer(nonce), act::send, {}, {}, true},
          {answered(oauth_errc::invalid_grant), act::send, {}, {}, false, true},
          {answered({}), act::succeed}},
         1});
}

BOOST_AUTO_TEST_SUITE_END()
