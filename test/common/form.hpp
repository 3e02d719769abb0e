// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_FORM_HPP
#define TETRAPAK_TEST_FORM_HPP

#include <boost/url/url.hpp>

#include <map>
#include <string>

namespace tetrapak::test {

/// Decodes an application/x-www-form-urlencoded body with Boost.URL (a
/// reader independent of the encoder under test).
inline std::multimap<std::string, std::string> form_params(const std::string& body)
{
    std::multimap<std::string, std::string> out;
    boost::urls::url u("http://x/");
    u.set_encoded_query(body);
    for (auto p : u.params(boost::urls::encoding_opts(true, false, false)))
        out.emplace(p.key, p.value);
    return out;
}

} // namespace tetrapak::test

#endif
