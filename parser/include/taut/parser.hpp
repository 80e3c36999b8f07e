// Everything of taut's HTTP/1.1 parser: request and response heads, body decoders, errors.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include "taut/body_decoder.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"
#include "taut/request_parser.hpp"
#include "taut/response_parser.hpp"
#include "taut/simd.hpp"
