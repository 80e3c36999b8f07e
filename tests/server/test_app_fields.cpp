// List-valued fields read as one list over all their lines (RFC 9110 section 5.3), with
// taut::field_list_range directly and through request_context::field_list() as a handler sees it.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "taut/field_list.hpp"
#include "taut/handler.hpp"
#include "taut/mux.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

std::vector<std::string> members(const taut::field_list_range& list) {
  std::vector<std::string> out;
  for (const std::string_view m : list) out.emplace_back(m);
  return out;
}

TEST(FieldList, JoinsEveryLineOfTheFieldInOrder) {
  const std::array<taut::header, 4> fields{{
      {"If-None-Match", "\"a\", \"b\""},
      {"Accept", "text/html"},
      {"if-none-match", "W/\"c\""},
      {"IF-NONE-MATCH", "\"d\""},
  }};
  EXPECT_EQ(members({fields, "If-None-Match"}),
            (std::vector<std::string>{"\"a\"", "\"b\"", "W/\"c\"", "\"d\""}));
  EXPECT_EQ(members({fields, "Accept"}), (std::vector<std::string>{"text/html"}));
  EXPECT_TRUE(taut::field_list_range(fields, "Vary").empty());
}

TEST(FieldList, CommaInsideAQuotedStringDoesNotSplit) {
  const std::array<taut::header, 2> fields{{
      {"If-Match", "\"x,y\" , W/\"q\\\"uote,d\""},
      {"Cache-Control", "no-cache=\"Set-Cookie, X-Id\", max-age=5"},
  }};
  EXPECT_EQ(members({fields, "If-Match"}),
            (std::vector<std::string>{"\"x,y\"", "W/\"q\\\"uote,d\""}));
  EXPECT_EQ(members({fields, "Cache-Control"}),
            (std::vector<std::string>{"no-cache=\"Set-Cookie, X-Id\"", "max-age=5"}));
}

TEST(FieldList, EmptyMembersAndWhitespaceAreSkipped) {
  // RFC 9110 section 5.6.1: a recipient accepts and ignores empty list elements.
  const std::array<taut::header, 3> fields{{
      {"Accept-Encoding", ", ,gzip,,\t br ,"},
      {"Accept-Encoding", ""},
      {"Accept-Encoding", " , "},
  }};
  EXPECT_EQ(members({fields, "Accept-Encoding"}), (std::vector<std::string>{"gzip", "br"}));
  const std::array<taut::header, 1> nothing{{{"Accept-Encoding", " ,, "}}};
  EXPECT_TRUE(taut::field_list_range(nothing, "Accept-Encoding").empty());
}

TEST(FieldList, ContainsComparesExactlyOrAsAToken) {
  const std::array<taut::header, 2> fields{{{"TE", "trailers"}, {"te", "GZIP"}}};
  const taut::field_list_range te(fields, "TE");
  EXPECT_TRUE(te.contains("trailers"));
  EXPECT_FALSE(te.contains("gzip"));
  EXPECT_TRUE(te.contains_token("gzip"));
  EXPECT_FALSE(te.contains_token("deflate"));
}

TEST(FieldList, AHandlerReadsAllLinesAsOneList) {
  taut::mux app;
  app.handle("GET /tags", [](request_context& req, reply& res) {
    std::string text;
    for (const std::string_view tag : req.field_list("If-None-Match")) {
      text.append(tag).append(";");
    }
    res.text(200, text);
  });
  client c(app);
  const auto r = c.send(request("GET", "/tags")
                            .header("If-None-Match", "\"zz\"")
                            .header("X-Other", "1")
                            .header("If-None-Match", "\"a,b\", W/\"c\""));
  EXPECT_EQ(r.body, "\"zz\";\"a,b\";W/\"c\";");
}

}  // namespace
