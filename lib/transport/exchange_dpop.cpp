// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The DPoP part of an exchange (RFC 9449): a proof made for each write, so a
// request sent again on a fresh connection never repeats a jti, and the
// server's nonce kept for its origin from every answer.

#include "http_exchange.hpp"

#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>

namespace tetrapak::detail {

using boost::system::error_code;

std::string http_exchange::origin() const
{
    return (ep_.tls ? "https://" : "http://") + ep_.host + ":" + ep_.port;
}

error_code http_exchange::sign_dpop()
{
    if (!dpop)
        return {};
    if (!dpop->key)
        return error::key_load_failed;
    const std::string htu = dpop_htu(ep_.url.buffer());
    const std::string nonce = tc_->dpop_nonces.get(origin());
    dpop_proof_claims claims;
    claims.htm = request.method_string();
    claims.htu = htu;
    claims.nonce = nonce;
    claims.access_token = dpop->access_token;
    auto proof = make_dpop_proof(*dpop->key, claims);
    if (!proof) {
        diagnostics_access::client_message(diag) = "the DPoP proof could not be signed with the proof key";
        return proof.error();
    }
    request.set("DPoP", *proof);
    return {};
}

void http_exchange::keep_dpop_nonce()
{
    if (!dpop)
        return;
    auto nonce = response()["DPoP-Nonce"];
    if (nonce.empty())
        return;
    dpop_nonce_received_ = true;
    tc_->dpop_nonces.put(origin(), nonce);
}

} // namespace tetrapak::detail
