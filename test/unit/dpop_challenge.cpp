// The one resource-server challenge authorized_client acts on besides a plain
// 401: a DPoP challenge with error="use_dpop_nonce" (RFC 9449 §9), read from
// WWW-Authenticate values as servers write them.
#include "client/dpop_challenge.hpp"

#include <boost/test/unit_test.hpp>

#include <string_view>

using tetrapak::detail::asks_for_dpop_nonce;

BOOST_AUTO_TEST_SUITE(dpop_challenge)

BOOST_AUTO_TEST_CASE(dpop_challenges_asking_for_a_nonce)
{
    for (std::string_view h : {
             R"(DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof")",
             R"(DPoP error=use_dpop_nonce)",
             R"(dpop algs="ES256 PS256", error="use_dpop_nonce")",
             R"(Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce")",
             R"(Basic realm="x", DPoP error="use_dpop_nonce")",
             R"(DPoP   error = "use_dpop_nonce")",
             R"(Basic dXNlcjpwYXNz==, DPoP error="use_dpop_nonce")",
         })
        BOOST_TEST(asks_for_dpop_nonce(h), h);
}

BOOST_AUTO_TEST_CASE(other_challenges_do_not)
{
    for (std::string_view h : {
             "",
             "DPoP",
             R"(DPoP error="invalid_token")",
             R"(Bearer error="use_dpop_nonce")",
             R"(DPoP error="invalid_dpop_proof", error_description="not use_dpop_nonce")",
             R"(DPoP error_description="use_dpop_nonce")",
             R"(DPoP error="use_dpop_nonce_x")",
             R"(DPoP error="use_dpop_nonce, Bearer")",
             R"(DPoP error="invalid_token", Bearer error="use_dpop_nonce")",
             R"(DPoP error=")",
             R"(DPoP error="\)",
             R"(===,,,"")",
         })
        BOOST_TEST(!asks_for_dpop_nonce(h), h);
}

BOOST_AUTO_TEST_SUITE_END()
