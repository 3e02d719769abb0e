// libFuzzer target: the TetraPak configuration loader and resolver.
#include <tetrapak/settings.hpp>

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace tetrapak;
    boost::system::error_code ec;
    boost::json::parse_options po;
    po.allow_comments = true;
    po.allow_trailing_commas = true;
    auto doc = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec, {}, po);
    if (ec)
        return 0;
    diagnostics diag;
    auto s = load_settings(doc, diag);
    if (!s)
        return 0;
    auto getenv = [](const char*) -> const char* { return nullptr; };
    (void)s->resolve("", "", getenv, diag);
    for (auto& [name, svc] : s->service) {
        (void)s->resolve(name, "", getenv, diag);
        for (auto& [ep, e] : svc.endpoints)
            (void)s->resolve(name, ep, getenv, diag);
    }
    return 0;
}
