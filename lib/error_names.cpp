// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The names of tetrapak::error's enumerators, as written in the source: for
// metric labels and logs that must stay stable across releases.
#include <tetrapak/error.hpp>

namespace tetrapak {

// A switch without default: -Wswitch (an error in this project's builds)
// names any enumerator added to `error` without a name here.
#define TETRAPAK_ERROR_NAME(e)                                                                                        \
    case error::e:                                                                                                     \
        return #e;

std::string_view to_string(error e) noexcept
{
    switch (e) {
        TETRAPAK_ERROR_NAME(missing_client_id)
        TETRAPAK_ERROR_NAME(missing_client_secret)
        TETRAPAK_ERROR_NAME(missing_token_endpoint)
        TETRAPAK_ERROR_NAME(invalid_url)
        TETRAPAK_ERROR_NAME(insecure_transport)
        TETRAPAK_ERROR_NAME(invalid_header_value)
        TETRAPAK_ERROR_NAME(invalid_scope_value)
        TETRAPAK_ERROR_NAME(unsupported_auth_method)
        TETRAPAK_ERROR_NAME(unsupported_grant)
        TETRAPAK_ERROR_NAME(no_subject_token)
        TETRAPAK_ERROR_NAME(system_identity_refused)
        TETRAPAK_ERROR_NAME(no_authorization)
        TETRAPAK_ERROR_NAME(config_parse_error)
        TETRAPAK_ERROR_NAME(config_invalid_value)
        TETRAPAK_ERROR_NAME(config_unknown_grant)
        TETRAPAK_ERROR_NAME(config_unknown_environment)
        TETRAPAK_ERROR_NAME(config_unknown_service)
        TETRAPAK_ERROR_NAME(config_bad_url)
        TETRAPAK_ERROR_NAME(discovery_failed)
        TETRAPAK_ERROR_NAME(discovery_issuer_mismatch)
        TETRAPAK_ERROR_NAME(discovery_no_token_endpoint)
        TETRAPAK_ERROR_NAME(key_load_failed)
        TETRAPAK_ERROR_NAME(connect_timeout)
        TETRAPAK_ERROR_NAME(handshake_timeout)
        TETRAPAK_ERROR_NAME(request_timeout)
        TETRAPAK_ERROR_NAME(response_header_timeout)
        TETRAPAK_ERROR_NAME(response_body_timeout)
        TETRAPAK_ERROR_NAME(tls_verification_failed)
        TETRAPAK_ERROR_NAME(tls_version_refused)
        TETRAPAK_ERROR_NAME(not_tls)
        TETRAPAK_ERROR_NAME(response_too_large)
        TETRAPAK_ERROR_NAME(header_too_large)
        TETRAPAK_ERROR_NAME(redirect_not_followed)
        TETRAPAK_ERROR_NAME(too_many_requests)
        TETRAPAK_ERROR_NAME(server_unavailable)
        TETRAPAK_ERROR_NAME(unexpected_http_status)
        TETRAPAK_ERROR_NAME(malformed_response)
        TETRAPAK_ERROR_NAME(missing_access_token)
        TETRAPAK_ERROR_NAME(invalid_expires_in)
        TETRAPAK_ERROR_NAME(unsupported_token_type)
        TETRAPAK_ERROR_NAME(proxy_url_invalid)
        TETRAPAK_ERROR_NAME(proxy_unsupported)
        TETRAPAK_ERROR_NAME(proxy_unreachable)
        TETRAPAK_ERROR_NAME(proxy_timeout)
        TETRAPAK_ERROR_NAME(proxy_refused)
        TETRAPAK_ERROR_NAME(proxy_auth_required)
        TETRAPAK_ERROR_NAME(proxy_bad_response)
        TETRAPAK_ERROR_NAME(connection_wait_timeout)
        TETRAPAK_ERROR_NAME(too_many_open_files)
        TETRAPAK_ERROR_NAME(client_refused)
        TETRAPAK_ERROR_NAME(dpop_key_mismatch)
        TETRAPAK_ERROR_NAME(client_assertion_unavailable)
        TETRAPAK_ERROR_NAME(client_assertion_expired)
        TETRAPAK_ERROR_NAME(redis_unavailable)
        TETRAPAK_ERROR_NAME(redis_timeout)
        TETRAPAK_ERROR_NAME(redis_refused)
        TETRAPAK_ERROR_NAME(redis_error_reply)
        TETRAPAK_ERROR_NAME(fleet_breaker_open)
        TETRAPAK_ERROR_NAME(fleet_value_rejected)
    }
    return {};
}

#undef TETRAPAK_ERROR_NAME

} // namespace tetrapak
