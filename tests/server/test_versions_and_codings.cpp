// What the server makes of the parser's answers about versions and transfer codings: HTTP/1.2 is
// served as HTTP/1.1 (RFC 9110 section 2.5), and a transfer coding the server does not decode is
// 501 unless the server opts in (RFC 9112 section 6.1), its handlers then reading the coded body.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "taut/app.hpp"
#include "taut/testing.hpp"

namespace {

using taut::testing::client;

/// Answers "<transfer codings>|<body>" from the request head the connection parsed.
struct coded_echo final : taut::request_handler {
  void on_request(taut::server_request& request, taut::response_writer response) override {
    response.send(200,
                  std::string(request.head().transfer_codings) + "|" + std::string(request.body()));
  }
};

TEST(ServedVersions, Http12IsAnsweredAsHttp11) {
  coded_echo handler;
  client c(handler);
  c.write_raw("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
  const auto r = c.read();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.version_minor, 1);  // the status line says HTTP/1.1
  EXPECT_TRUE(r.keep_alive);      // 1.1's persistence
  EXPECT_FALSE(c.closed());
  // Still a 1.1 request in every other way: Host is required.
  c.write_raw("GET / HTTP/1.2\r\n\r\n");
  EXPECT_EQ(c.read().status, 400);
}

TEST(TransferCodings, GzipChunkedIs501UnlessTheServerOptsIn) {
  const std::string request =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n";
  coded_echo handler;
  client strict(handler);
  strict.write_raw(request);
  EXPECT_EQ(strict.read().status, 501);

  taut::testing::server_options options;
  options.loop.connection.parse.allow_transfer_codings = true;
  client opted_in(handler, {}, options);
  opted_in.write_raw(request);
  const auto r = opted_in.read();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "gzip|abc");  // chunked removed, gzip left to the handler and named
}

// The application layer names the codings too: a route of a server that opts in undoes them.
TEST(TransferCodings, ARouteReadsTheCodingsItMustUndo) {
  taut::mux app;
  app.handle("POST /upload", [](taut::request_context& req, taut::reply& res) {
    res.text(200, std::string(req.transfer_codings()) + "|" + std::string(req.body()));
  });
  taut::testing::server_options options;
  options.loop.connection.parse.allow_transfer_codings = true;
  client c(app, {}, options);
  c.write_raw(
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\nPOST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
  const auto coded = c.read();
  EXPECT_EQ(coded.status, 200) << coded.error;
  EXPECT_EQ(coded.body, "gzip|abc");
  EXPECT_EQ(c.read().body, "|hi");  // no coding: nothing to undo
}

/// Answers a body still carrying gzip (as a proxy passes on its origin's), or "unlabelled" with a
/// Content-Length where the response cannot say so.
struct coded_sender final : taut::request_handler {
  void on_request(taut::server_request&, taut::response_writer response) override {
    if (!response.begin_coded("gzip")) {
      response.send(200, "unlabelled");
      return;
    }
    response.write("zz");
    response.finish();
  }
};

// response_writer::begin_coded names the codings before the chunked it frames with, and refuses
// (writing nothing) where it cannot: an HTTP/1.0 client knows no transfer codings.
TEST(TransferCodings, AWriterLabelsTheCodingsItsBodyCarries) {
  coded_sender handler;
  client c(handler);
  c.write_raw("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const auto coded = c.read();
  EXPECT_EQ(coded.status, 200) << coded.error;
  EXPECT_EQ(coded.header("Transfer-Encoding"), "gzip, chunked");
  EXPECT_EQ(coded.body, "zz");
  client old(handler);
  old.write_raw("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
  const auto refused = old.read();
  EXPECT_EQ(refused.status, 200) << refused.error;
  EXPECT_FALSE(refused.has_header("Transfer-Encoding"));
  EXPECT_EQ(refused.body, "unlabelled");
}

/// The handler a user writes around begin_coded: try the coded body, and where the response cannot
/// carry it (HEAD, 204, 304, an HTTP/1.0 client) send the body plain. With `try_coded` false it
/// goes straight to the plain body: what a refused begin_coded must leave possible unchanged.
struct coded_or_plain final : taut::request_handler {
  bool try_coded = true;
  void on_request(taut::server_request& request, taut::response_writer response) override {
    const std::string_view target = request.target();
    response.set_status(target == "/204" ? 204 : target == "/304" ? 304 : 200);
    response.add_header("X-Handler", "kept");
    if (try_coded && response.begin_coded("gzip")) {
      response.write("zz");
      response.finish();
      return;
    }
    response.add_header("X-Fallback", "plain");
    response.send("plain");
  }
};

std::vector<taut::testing::field> fields_but_date(const taut::testing::response& r) {
  std::vector<taut::testing::field> kept;
  for (const auto& f : r.headers) {
    if (f.name != "Date") kept.push_back(f);
  }
  return kept;
}

// A refused begin_coded changes nothing of the response: the plain body sent after it is the same
// response, byte for byte but the Date, as a handler that never tried gives, and the connection
// goes on serving.
TEST(TransferCodings, ARefusedCodedBodyLeavesTheResponseAsItWas) {
  coded_or_plain trying;
  coded_or_plain plain;
  plain.try_coded = false;
  for (const std::string_view request :
       {"GET /204 HTTP/1.1\r\nHost: h\r\n\r\n", "GET /304 HTTP/1.1\r\nHost: h\r\n\r\n",
        "HEAD / HTTP/1.0\r\nHost: h\r\n\r\n", "GET / HTTP/1.0\r\nHost: h\r\n\r\n",
        "GET /204 HTTP/1.0\r\nHost: h\r\n\r\n"}) {
    SCOPED_TRACE(request);
    client tried(trying);
    tried.write_raw(request);
    const auto refused = tried.read();
    client straight(plain);
    straight.write_raw(request);
    const auto expected = straight.read();
    ASSERT_NE(expected.status, 0) << expected.error;
    EXPECT_EQ(refused.status, expected.status) << refused.error;
    EXPECT_EQ(refused.header("X-Fallback"), "plain");
    EXPECT_FALSE(refused.has_header("Transfer-Encoding"));
    const auto got_fields = fields_but_date(refused);
    const auto want_fields = fields_but_date(expected);
    ASSERT_EQ(got_fields.size(), want_fields.size());
    for (std::size_t i = 0; i < got_fields.size(); ++i) {
      EXPECT_EQ(got_fields[i].name, want_fields[i].name);
      EXPECT_EQ(got_fields[i].value, want_fields[i].value);
    }
    EXPECT_EQ(refused.body, expected.body);
    EXPECT_EQ(refused.framing, expected.framing);
    EXPECT_EQ(refused.keep_alive, expected.keep_alive);
    EXPECT_TRUE(tried.unread().empty());
    if (refused.keep_alive) {  // the next response on the connection is coded again
      tried.write_raw("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
      const auto next = tried.read();
      EXPECT_EQ(next.status, 200) << next.error;
      EXPECT_EQ(next.header("Transfer-Encoding"), "gzip, chunked");
      EXPECT_EQ(next.body, "zz");
    }
  }
  // A HEAD over HTTP/1.1 can say its codings: the head is the GET's, without the body.
  client c(trying);
  c.write_raw("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
  const auto head = c.read();
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.header("Transfer-Encoding"), "gzip, chunked");
  EXPECT_FALSE(head.has_header("X-Fallback"));
  EXPECT_EQ(head.body, "");
  EXPECT_TRUE(c.unread().empty());
}

// chunked is the writer's to add, once: codings that name it are refused (RFC 9112 section 6.1
// forbids applying it twice, and a recipient rejects "chunked, chunked"), leaving the response to
// go out another way.
/// Tries begin_coded(codings); answers "plain" when it is refused.
struct chunked_coder final : taut::request_handler {
  std::string_view codings;
  bool refused = false;
  void on_request(taut::server_request&, taut::response_writer response) override {
    refused = !response.begin_coded(codings);
    if (refused) {
      response.send(200, "plain");
      return;
    }
    response.write("zz");
    response.finish();
  }
};

TEST(TransferCodings, CodingsThatNameChunkedAreRefused) {
  for (const std::string_view codings :
       {"chunked", "gzip, chunked", "CHUNKED , gzip", "chunked;a=1", "gzip,Chunked ; x=1"}) {
    SCOPED_TRACE(codings);
    chunked_coder handler;
    handler.codings = codings;
    client c(handler);
    const auto r = c.get("/");
    EXPECT_TRUE(handler.refused);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_FALSE(r.has_header("Transfer-Encoding"));
    EXPECT_EQ(r.body, "plain");
  }
  chunked_coder handler;  // and a coding merely containing the word is a coding like any other
  handler.codings = "x-chunked-gzip";
  client c(handler);
  const auto r = c.get("/");
  EXPECT_FALSE(handler.refused);
  EXPECT_EQ(r.header("Transfer-Encoding"), "x-chunked-gzip, chunked");
  EXPECT_EQ(r.body, "zz");
}

}  // namespace
