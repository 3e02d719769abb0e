// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_STRAND_HPP
#define TETRAPAK_LIB_DETAIL_STRAND_HPP

#include <boost/asio/any_io_executor.hpp>

namespace tetrapak::detail {

/// A new strand on `ex`, as an any_io_executor. When `ex` is an io_context's
/// own executor (the usual case) the strand wraps that concrete executor: it
/// then fits the any_io_executor's small buffer, and its dispatches never
/// query a type-erased inner executor. A strand over any_io_executor costs a
/// heap allocation per conversion and one per dispatch. Compiled once
/// (strand.cpp): the conversions are costly to instantiate in every job.
boost::asio::any_io_executor make_strand_for(const boost::asio::any_io_executor& ex);

} // namespace tetrapak::detail

#endif
