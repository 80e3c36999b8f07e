// What the server makes of the parser's answers about versions and transfer codings: HTTP/1.2 is
// served as HTTP/1.1 (RFC 9110 section 2.5), and a transfer coding the server does not decode is
// 501 unless the server opts in (RFC 9112 section 6.1), its handlers then reading the coded body.
#include <gtest/gtest.h>

#include <string>

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

/// Tries to label its body with `codings` that name chunked themselves.
struct double_chunked_sender final : taut::request_handler {
  explicit double_chunked_sender(std::string_view codings) : codings(codings) {}
  void on_request(taut::server_request&, taut::response_writer response) override {
    if (!response.begin_coded(codings)) {
      response.send(200, "unlabelled");
      return;
    }
    response.write("zz");
    response.finish();
  }
  std::string_view codings;
};

// RFC 9112 section 6.1: chunked is applied once, last, by the connection. Codings that name it
// again would frame the body twice ("chunked, chunked"), which no recipient can read.
TEST(TransferCodings, AWriterRefusesCodingsThatNameChunked) {
  for (const std::string_view codings :
       {"chunked", "gzip, chunked", "gzip,Chunked ; x=1", "CHUNKED , gzip"}) {
    double_chunked_sender handler(codings);
    client c(handler);
    c.write_raw("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const auto r = c.read();
    EXPECT_EQ(r.status, 200) << codings << ": " << r.error;
    EXPECT_FALSE(r.has_header("Transfer-Encoding")) << codings;
    EXPECT_EQ(r.body, "unlabelled") << codings;
  }
  // A coding whose name only contains the word is no chunked.
  double_chunked_sender unchunked("x-chunked-gzip");
  client c(unchunked);
  c.write_raw("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const auto r = c.read();
  EXPECT_EQ(r.header("Transfer-Encoding"), "x-chunked-gzip, chunked") << r.error;
  EXPECT_EQ(r.body, "zz");
}

}  // namespace
