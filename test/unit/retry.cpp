// Which failures are retried and after how long: the pure retry policy, with
// chosen random samples instead of real jitter (no timers, no sleeps).
#include "service/retry_policy.hpp"

#include <tetrapak.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
using boost::system::error_code;
using std::chrono::milliseconds;
using tetrapak::detail::diagnostics_access;
using tetrapak::detail::is_retryable;
using tetrapak::detail::random_unit;
using tetrapak::detail::retry_delay;

namespace {

namespace aerr = boost::asio::error;
namespace http = boost::beast::http;

constexpr double almost_one = 0.999999;

diagnostics with_status(unsigned status)
{
    diagnostics d;
    diagnostics_access::http_status(d) = status;
    return d;
}

diagnostics with_retry_after(std::optional<std::chrono::seconds> ra, unsigned status = 429)
{
    diagnostics d = with_status(status);
    diagnostics_access::retry_after(d) = ra;
    return d;
}

/// The delay in milliseconds, or -1 for "no retry" (readable in failure messages).
long long ms(std::optional<milliseconds> d)
{
    return d ? static_cast<long long>(d->count()) : -1;
}

const error_code transient = make_error_code(error::server_unavailable);

} // namespace

BOOST_AUTO_TEST_SUITE(retry)

// ---------------------------------------------------------------------------
// is_retryable

BOOST_AUTO_TEST_CASE(transient_failures_are_retryable)
{
    const std::vector<std::pair<const char*, error_code>> codes = {
        {"connect_timeout", make_error_code(error::connect_timeout)},
        {"handshake_timeout", make_error_code(error::handshake_timeout)},
        {"request_timeout", make_error_code(error::request_timeout)},
        {"response_header_timeout", make_error_code(error::response_header_timeout)},
        {"response_body_timeout", make_error_code(error::response_body_timeout)},
        {"too_many_requests", make_error_code(error::too_many_requests)},
        {"server_unavailable", make_error_code(error::server_unavailable)},
        {"oauth server_error", make_error_code(oauth_errc::server_error)},
        {"oauth temporarily_unavailable", make_error_code(oauth_errc::temporarily_unavailable)},
        {"connection_refused", make_error_code(aerr::connection_refused)},
        {"connection_reset", make_error_code(aerr::connection_reset)},
        {"eof", make_error_code(aerr::eof)},
        {"host_not_found_try_again", make_error_code(aerr::host_not_found_try_again)},
        {"http end_of_stream", make_error_code(http::error::end_of_stream)},
        {"http partial_message", make_error_code(http::error::partial_message)},
        {"ssl stream_truncated", make_error_code(boost::asio::ssl::error::stream_truncated)},
    };
    for (const auto& [name, ec] : codes) {
        BOOST_TEST_CONTEXT(name << " (" << ec.category().name() << ':' << ec.value() << ')')
        {
            BOOST_TEST(is_retryable(ec, diagnostics{}));
            // Retryable whatever the status says (oauth server_error in a 400 answer included).
            BOOST_TEST(is_retryable(ec, with_status(400)));
        }
    }
}

BOOST_AUTO_TEST_CASE(final_failures_are_not_retryable)
{
    const std::vector<std::pair<const char*, error_code>> codes = {
        {"empty error_code", error_code{}},
        {"operation_aborted", make_error_code(aerr::operation_aborted)},
        {"oauth invalid_client", make_error_code(oauth_errc::invalid_client)},
        {"oauth invalid_grant", make_error_code(oauth_errc::invalid_grant)},
        {"oauth unauthorized_client", make_error_code(oauth_errc::unauthorized_client)},
        {"oauth invalid_scope", make_error_code(oauth_errc::invalid_scope)},
        {"oauth invalid_request", make_error_code(oauth_errc::invalid_request)},
        {"oauth unsupported_grant_type", make_error_code(oauth_errc::unsupported_grant_type)},
        {"oauth invalid_target", make_error_code(oauth_errc::invalid_target)},
        {"oauth access_denied", make_error_code(oauth_errc::access_denied)},
        {"tls_verification_failed", make_error_code(error::tls_verification_failed)},
        {"malformed_response", make_error_code(error::malformed_response)},
        {"missing_access_token", make_error_code(error::missing_access_token)},
        {"response_too_large", make_error_code(error::response_too_large)},
        {"header_too_large", make_error_code(error::header_too_large)},
        {"unexpected_http_status", make_error_code(error::unexpected_http_status)},
        {"redirect_not_followed", make_error_code(error::redirect_not_followed)},
        {"missing_client_id", make_error_code(error::missing_client_id)},
        {"invalid_url", make_error_code(error::invalid_url)},
        {"host_not_found", make_error_code(aerr::host_not_found)},
        {"service_not_found", make_error_code(aerr::service_not_found)},
        {"http bad_version", make_error_code(http::error::bad_version)},
        {"http bad_field", make_error_code(http::error::bad_field)},
        {"http body_limit", make_error_code(http::error::body_limit)},
        {"ssl handshake failure", error_code(1, aerr::get_ssl_category())},
    };
    for (const auto& [name, ec] : codes) {
        BOOST_TEST_CONTEXT(name << " (" << ec.category().name() << ':' << ec.value() << ')')
        {
            BOOST_TEST(!is_retryable(ec, diagnostics{}));
            // A 5xx status does not make a final error transient.
            BOOST_TEST(!is_retryable(ec, with_status(503)));
            // And no delay is ever offered for it.
            BOOST_TEST(ms(retry_delay(retry_settings{}, 1, ec, with_status(503), 0.5)) == -1);
        }
    }
}

BOOST_AUTO_TEST_CASE(unknown_oauth_error_depends_on_the_status)
{
    const auto other = make_error_code(oauth_errc::other);
    BOOST_TEST(is_retryable(other, with_status(500)));
    BOOST_TEST(is_retryable(other, with_status(502)));
    BOOST_TEST(is_retryable(other, with_status(503)));
    BOOST_TEST(is_retryable(other, with_status(599)));
    BOOST_TEST(is_retryable(other, with_status(429)));
    BOOST_TEST(!is_retryable(other, with_status(0)));
    BOOST_TEST(!is_retryable(other, with_status(400)));
    BOOST_TEST(!is_retryable(other, with_status(401)));
    BOOST_TEST(!is_retryable(other, with_status(403)));
    BOOST_TEST(!is_retryable(other, with_status(428)));
    BOOST_TEST(!is_retryable(other, with_status(430)));
    BOOST_TEST(!is_retryable(other, with_status(499)));
}

// ---------------------------------------------------------------------------
// retry_delay

BOOST_AUTO_TEST_CASE(default_schedule)
{
    const retry_settings s; // 3 attempts, 500 ms base, 30 s cap
    BOOST_TEST_REQUIRE(s.max_attempts == 3);

    const auto after1 = ms(retry_delay(s, 1, transient, {}, almost_one));
    BOOST_TEST(after1 >= 495);
    BOOST_TEST(after1 <= 500);
    const auto after2 = ms(retry_delay(s, 2, transient, {}, almost_one));
    BOOST_TEST(after2 >= 990);
    BOOST_TEST(after2 <= 1000);
    // The third attempt was the last.
    BOOST_TEST(ms(retry_delay(s, 3, transient, {}, almost_one)) == -1);
    BOOST_TEST(ms(retry_delay(s, 4, transient, {}, almost_one)) == -1);

    // Full jitter: anywhere from 0 to the backoff.
    BOOST_TEST(ms(retry_delay(s, 1, transient, {}, 0.0)) == 0);
    BOOST_TEST(ms(retry_delay(s, 2, transient, {}, 0.0)) == 0);
    BOOST_TEST(ms(retry_delay(s, 1, transient, {}, 0.5)) == 250);
    BOOST_TEST(ms(retry_delay(s, 2, transient, {}, 0.5)) == 500);
}

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_the_cap)
{
    retry_settings s;
    s.max_attempts = 100;
    s.base_delay = 100ms;
    s.max_delay = 1000ms;
    // 100, 200, 400, 800, then capped at 1000.
    BOOST_TEST(ms(retry_delay(s, 1, transient, {}, 0.5)) == 50);
    BOOST_TEST(ms(retry_delay(s, 2, transient, {}, 0.5)) == 100);
    BOOST_TEST(ms(retry_delay(s, 3, transient, {}, 0.5)) == 200);
    BOOST_TEST(ms(retry_delay(s, 4, transient, {}, 0.5)) == 400);
    BOOST_TEST(ms(retry_delay(s, 5, transient, {}, 0.5)) == 500);
    BOOST_TEST(ms(retry_delay(s, 6, transient, {}, 0.5)) == 500);
    // Very many attempts do not overflow the doubling.
    BOOST_TEST(ms(retry_delay(s, 99, transient, {}, 0.5)) == 500);
}

BOOST_AUTO_TEST_CASE(delay_never_exceeds_max_delay)
{
    retry_settings s;
    s.max_attempts = 10;
    s.base_delay = 20s;
    s.max_delay = 30s;
    const auto first = ms(retry_delay(s, 1, transient, {}, almost_one));
    BOOST_TEST(first >= 19900);
    BOOST_TEST(first <= 20000);
    for (int attempt = 2; attempt < s.max_attempts; ++attempt) {
        BOOST_TEST_CONTEXT("after attempt " << attempt)
        {
            const auto d = ms(retry_delay(s, attempt, transient, {}, almost_one));
            BOOST_TEST(d <= 30000);
            BOOST_TEST(d >= 29900); // capped, not shrunk
            BOOST_TEST(ms(retry_delay(s, attempt, transient, {}, 1.0)) == 30000);
            BOOST_TEST(ms(retry_delay(s, attempt, transient, {}, 5.0)) == 30000); // random01 clamped
        }
    }
    BOOST_TEST(ms(retry_delay(s, s.max_attempts, transient, {}, almost_one)) == -1);
}

BOOST_AUTO_TEST_CASE(one_attempt_means_no_retries)
{
    retry_settings s;
    s.max_attempts = 1;
    for (auto ec : {transient, make_error_code(error::connect_timeout), make_error_code(aerr::connection_reset)}) {
        BOOST_TEST(ms(retry_delay(s, 1, ec, {}, 0.0)) == -1);
        BOOST_TEST(ms(retry_delay(s, 1, ec, {}, almost_one)) == -1);
    }
    // Not even a short Retry-After changes that.
    BOOST_TEST(ms(retry_delay(s, 1, make_error_code(error::too_many_requests), with_retry_after(1s), 0.0)) == -1);
}

BOOST_AUTO_TEST_CASE(retry_after_is_waited_for)
{
    const retry_settings s;
    const auto tmr = make_error_code(error::too_many_requests);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(2s), 0.0)) == 2000);
    BOOST_TEST(ms(retry_delay(s, 2, tmr, with_retry_after(2s), almost_one)) == 2000); // longer than the 1 s backoff
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(0s), 0.0)) == 0);
    BOOST_TEST(ms(retry_delay(s, 1, make_error_code(oauth_errc::temporarily_unavailable), with_retry_after(3s, 503), 0.0)) ==
               3000);

    // Never shorter than Retry-After, but the backoff wins when it is longer.
    retry_settings slow;
    slow.base_delay = 5000ms;
    const auto d = ms(retry_delay(slow, 1, tmr, with_retry_after(1s), almost_one));
    BOOST_TEST(d >= 4990);
    BOOST_TEST(d <= 5000);

    // Retry-After exactly max_delay is still waited for; a second more is not.
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(30s), 0.0)) == 30000);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(31s), 0.0)) == -1);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(3600s), almost_one)) == -1);

    // Retry-After does not make a final error retryable.
    BOOST_TEST(ms(retry_delay(s, 1, make_error_code(oauth_errc::invalid_client), with_retry_after(1s), 0.0)) == -1);
    // Nor does it grant an attempt beyond max_attempts.
    BOOST_TEST(ms(retry_delay(s, 3, tmr, with_retry_after(1s), 0.0)) == -1);
}

BOOST_AUTO_TEST_CASE(retry_after_in_both_server_forms)
{
    using namespace std::chrono;
    // 2024-01-02 03:04:05 UTC (a Tuesday).
    const system_clock::time_point now = sys_days{year{2024} / 1 / 2} + 3h + 4min + 5s;
    const retry_settings s;
    const auto tmr = make_error_code(error::too_many_requests);

    const auto secs = parse_retry_after("7", now);
    BOOST_TEST_REQUIRE(secs.has_value());
    BOOST_TEST(secs->count() == 7);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(secs), 0.0)) == 7000);

    const auto date = parse_retry_after("Tue, 02 Jan 2024 03:04:15 GMT", now);
    BOOST_TEST_REQUIRE(date.has_value());
    BOOST_TEST(date->count() == 10);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(date), 0.0)) == 10000);

    // A date past max_delay (an hour ahead) fails at once.
    const auto far = parse_retry_after("Tue, 02 Jan 2024 04:04:05 GMT", now);
    BOOST_TEST_REQUIRE(far.has_value());
    BOOST_TEST(far->count() == 3600);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(far), 0.0)) == -1);

    // A date in the past is no wait at all: the backoff applies.
    const auto past = parse_retry_after("Tue, 02 Jan 2024 03:00:00 GMT", now);
    BOOST_TEST_REQUIRE(past.has_value());
    BOOST_TEST(past->count() == 0);
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(past), 0.5)) == 250);

    // An unparsable value is no Retry-After: the plain backoff.
    const auto junk = parse_retry_after("soon", now);
    BOOST_TEST(!junk.has_value());
    BOOST_TEST(ms(retry_delay(s, 1, tmr, with_retry_after(junk), 0.5)) == 250);
}

// ---------------------------------------------------------------------------
// random_unit

BOOST_AUTO_TEST_CASE(random_unit_is_uniform_in_zero_one)
{
    constexpr int n = 10000;
    double sum = 0, lo = 1, hi = 0;
    int below_tenth = 0, above_nine_tenths = 0;
    for (int i = 0; i < n; ++i) {
        const double x = random_unit();
        if (!(x >= 0.0 && x < 1.0)) {
            BOOST_ERROR("sample " << i << " out of [0, 1): " << x);
            break;
        }
        sum += x;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        below_tenth += x < 0.1;
        above_nine_tenths += x >= 0.9;
    }
    const double mean = sum / n;
    BOOST_TEST(mean >= 0.45);
    BOOST_TEST(mean <= 0.55);
    // Spread over the whole interval (each tenth holds ~1000 samples).
    BOOST_TEST(lo < 0.01);
    BOOST_TEST(hi > 0.99);
    BOOST_TEST(below_tenth > 700);
    BOOST_TEST(below_tenth < 1300);
    BOOST_TEST(above_nine_tenths > 700);
    BOOST_TEST(above_nine_tenths < 1300);
}

BOOST_AUTO_TEST_SUITE_END()
